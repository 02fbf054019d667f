package config

import (
	"fmt"

	yaml "go.yaml.in/yaml/v3"

	"lab.dev/lab/manifests"
)

// Pins are the versions this lab release is tested with (manifests/versions.yaml).
type Pins struct {
	Components map[string]string `yaml:"components" json:"components"`
	Charts     map[string]string `yaml:"charts" json:"charts"`
}

// Pinned parses the embedded pins. The file is part of the binary, so an
// error here is a build defect; tests make sure it parses.
func Pinned() Pins {
	var p Pins
	if err := yaml.Unmarshal(manifests.VersionsYAML, &p); err != nil {
		panic(fmt.Sprintf("manifests/versions.yaml: %v", err))
	}
	return p
}
