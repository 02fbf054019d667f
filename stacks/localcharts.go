package stacks

import (
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// FindChart finds chart name at version in dir, a chart mirror: an archive
// dir/name-version.tgz as `helm package` (or `helm pull`) writes it, or a
// chart's own folder dir/name. Not found: "".
func FindChart(dir, name, version string) string {
	if dir == "" {
		return ""
	}
	tgz := filepath.Join(dir, name+"-"+version+".tgz")
	if _, err := os.Stat(tgz); err == nil {
		return tgz
	}
	folder := filepath.Join(dir, name)
	if _, err := os.Stat(filepath.Join(folder, "Chart.yaml")); err == nil {
		return folder
	}
	return ""
}

// FromFolder points every release of plans at its pinned chart in dir
// instead of the chart's repository, for hosts that reach no chart
// repository but hold the charts (a mirror folder, a checked-out copy). A
// chart missing there, or whose Chart.yaml names another chart or version
// than lab pins, is an error naming the file: lab installs what it pins.
func FromFolder(plans []Plan, dir string) error {
	for i := range plans {
		for j := range plans[i].Releases {
			r := &plans[i].Releases[j]
			path := FindChart(dir, r.Chart.Name, r.Chart.Version)
			if path == "" {
				return fmt.Errorf("charts folder %s: no %s-%s.tgz nor %s/Chart.yaml (release %s pins %s %s)",
					dir, r.Chart.Name, r.Chart.Version, r.Chart.Name, r.Name, r.Chart.Name, r.Chart.Version)
			}
			ch, err := loader.Load(path)
			if err != nil {
				return fmt.Errorf("charts folder: %w", err)
			}
			if ch.Metadata.Name != r.Chart.Name || ch.Metadata.Version != r.Chart.Version {
				return fmt.Errorf("%s: Chart.yaml says %s %s, lab pins %s %s for release %s",
					path, ch.Metadata.Name, ch.Metadata.Version, r.Chart.Name, r.Chart.Version, r.Name)
			}
			r.Chart = Source{Path: path}
		}
	}
	return nil
}
