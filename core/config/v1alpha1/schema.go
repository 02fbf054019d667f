package v1alpha1

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Schema returns the JSON Schema (draft 2020-12) of lab.yaml, derived from the
// Go types and their tags so it cannot drift from what Load accepts.
func Schema() ([]byte, error) {
	s := schemaOf(reflect.TypeOf(Lab{}), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://lab.dev/schemas/" + APIVersion + "/lab.json"
	s["title"] = "lab.yaml"
	s["required"] = []string{"apiVersion", "kind"}
	props := s["properties"].(map[string]any)
	props["apiVersion"].(map[string]any)["const"] = APIVersion
	props["kind"].(map[string]any)["const"] = Kind
	return json.MarshalIndent(s, "", "  ")
}

func schemaOf(t reflect.Type, doc string) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := map[string]any{}
	if doc != "" {
		s["description"] = doc
	}
	switch {
	case t == durationType:
		s["type"] = "string"
		s["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	case t.Kind() == reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		var required []string
		addFields(t, props, &required)
		s["properties"] = props
		if len(required) > 0 {
			s["required"] = required
		}
	case t.Kind() == reflect.Slice:
		s["type"] = "array"
		s["items"] = schemaOf(t.Elem(), "")
	case t.Kind() == reflect.Map:
		s["type"] = "object"
	case t.Kind() == reflect.String:
		s["type"] = "string"
	case t.Kind() == reflect.Bool:
		s["type"] = "boolean"
	case t.Kind() == reflect.Int:
		s["type"] = "integer"
	case t.Kind() == reflect.Float64:
		s["type"] = "number"
	}
	return s
}

func addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && strings.Contains(opts, "inline") {
			addFields(f.Type, props, required)
			continue
		}
		fs := schemaOf(f.Type, f.Tag.Get("doc"))
		target := fs
		if f.Type.Kind() == reflect.Slice {
			target = fs["items"].(map[string]any)
		}
		if e := f.Tag.Get("enum"); e != "" {
			target["enum"] = strings.Split(e, ",")
		}
		if p := f.Tag.Get("pattern"); p != "" {
			target["pattern"] = p
		}
		for tag, key := range map[string]string{"min": "minimum", "max": "maximum", "minf": "minimum", "maxf": "maximum"} {
			if v := f.Tag.Get(tag); v != "" {
				n, _ := strconv.ParseFloat(v, 64)
				target[key] = n
			}
		}
		if f.Tag.Get("required") == "true" {
			*required = append(*required, name)
		}
		props[name] = fs
	}
}
