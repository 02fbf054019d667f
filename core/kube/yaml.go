package kube

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// DecodeYAML splits a multi-document YAML into objects.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range splitYAML(data) {
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for i := 0; i <= len(data); i++ {
		atLineStart := i == 0 || data[i-1] == '\n'
		if i == len(data) || (atLineStart && len(data) >= i+3 && string(data[i:i+3]) == "---" && (len(data) == i+3 || data[i+3] == '\n' || data[i+3] == '\r' || data[i+3] == ' ')) {
			docs = append(docs, data[start:i])
			for i < len(data) && data[i] != '\n' {
				i++
			}
			start = i + 1
		}
	}
	return docs
}
