package config

import (
	"encoding/json"
	"fmt"
	"os"

	yaml "go.yaml.in/yaml/v3"

	v1 "lab.dev/lab/core/config/v1alpha1"
)

// The current apiVersion and kind, what lab init writes.
const (
	APIVersion = v1.APIVersion
	Kind       = v1.Kind
)

// FieldError, Errors and ErrInvalid are the loader's, whatever the version.
type (
	FieldError = v1.FieldError
	Errors     = v1.Errors
)

// ErrInvalid is wrapped by every error Load returns for a bad file.
var ErrInvalid = v1.ErrInvalid

// LoadFile reads and loads path. See Load.
func LoadFile(path string) (*Lab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading lab config: %w", err)
	}
	return Load(path, b)
}

// Load decodes a lab.yaml strictly in the format its apiVersion names (every
// problem at once, each with file:line and field path), applies that
// version's defaults and converts it to the internal type.
func Load(name string, data []byte) (*Lab, error) {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
	}
	_ = yaml.Unmarshal(data, &head) // a broken file is the version loader's to report
	switch head.APIVersion {
	case v1.APIVersion, "": // no apiVersion: v1alpha1 reports it with its line
		l, err := v1.Load(name, data)
		if err != nil {
			return nil, err
		}
		return FromV1alpha1(l), nil
	}
	return nil, v1.Errors{{File: name, Line: 1, Path: "apiVersion", Msg: fmt.Sprintf("unknown apiVersion %q; this lab reads %s", head.APIVersion, v1.APIVersion)}}
}

// Default is the documented default lab.
func Default() *Lab { return FromV1alpha1(v1.Default()) }

// Validate checks l as its lab.yaml would be checked (field paths of the
// current version).
func Validate(l *Lab) []FieldError { return v1.Validate(ToV1alpha1(l)) }

// Encode is l as JSON in the current wire format: the applied spec lab
// records, and what its diffs compare.
func Encode(l *Lab) []byte {
	b, _ := json.MarshalIndent(ToV1alpha1(l), "", "  ")
	return b
}

// Decode reads what Encode wrote.
func Decode(b []byte) (*Lab, error) {
	var w v1.Lab
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	return FromV1alpha1(&w), nil
}

// Template is lab.yaml for l with every field's documentation as comments.
func Template(l *Lab) ([]byte, error) { return v1.Template(ToV1alpha1(l)) }

// Schema is the JSON Schema of the current lab.yaml.
func Schema() ([]byte, error) { return v1.Schema() }
