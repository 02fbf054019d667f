// Package sbom writes the software bill of materials of what a lab ships —
// Go binaries (their module list), container images (their Debian and
// Alpine packages and the Go binaries in their layers), the charts and the
// model of a bundle — as CycloneDX JSON, through CycloneDX's own Go library:
// the format's reference implementation, with no dependencies of its own at
// run time. (Syft catalogues more ecosystems but brings hundreds of modules;
// a lab's images hold Go binaries and distribution packages, which this
// package reads itself.)
package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// New is an empty BOM describing subject.
func New(subject cdx.Component) *cdx.BOM {
	b := cdx.NewBOM()
	b.Metadata = &cdx.Metadata{Component: &subject, Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "lab"}}}}
	b.Components = &[]cdx.Component{}
	return b
}

// Add appends components.
func Add(b *cdx.BOM, cs ...cdx.Component) {
	all := append(*b.Components, cs...)
	b.Components = &all
}

// Encode writes b as CycloneDX JSON.
func Encode(w io.Writer, b *cdx.BOM) error {
	e := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	e.SetPretty(true)
	return e.Encode(b)
}

// Decode reads CycloneDX JSON.
func Decode(r io.Reader) (*cdx.BOM, error) {
	var b cdx.BOM
	if err := cdx.NewBOMDecoder(r, cdx.BOMFileFormatJSON).Decode(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// GoBinary lists the modules a Go binary was built from (its embedded build
// information), as components: the main module first.
func GoBinary(name string, r io.ReaderAt) ([]cdx.Component, error) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	main := cdx.Component{Type: cdx.ComponentTypeApplication, Name: bi.Main.Path, Version: bi.Main.Version,
		PackageURL: purlGo(bi.Main.Path, bi.Main.Version),
		Properties: &[]cdx.Property{{Name: "lab:file", Value: name}, {Name: "lab:go", Value: bi.GoVersion}}}
	out := []cdx.Component{main}
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: purlGo(m.Path, m.Version)}
		if m.Sum != "" { // go.sum's h1: hash (not a plain SHA-256 of a file): a property, not a CycloneDX hash
			c.Properties = &[]cdx.Property{{Name: "lab:go-sum", Value: m.Sum}}
		}
		out = append(out, c)
	}
	return out, nil
}

func purlGo(mod, version string) string {
	if version == "" || version == "(devel)" {
		return "pkg:golang/" + mod
	}
	return "pkg:golang/" + mod + "@" + version
}

// ImageTar lists what a saved image (docker save / OCI archive) holds: the
// Debian packages (var/lib/dpkg/status and status.d), Alpine packages
// (lib/apk/db/installed) and every Go binary of its layers. An archive of
// several images gets the union of all of them: ImagesTar tells them apart.
func ImageTar(path string) ([]cdx.Component, error) {
	a, err := readArchive(path)
	if err != nil {
		return nil, err
	}
	return a.components(a.order), nil
}

// ImagesTar lists what each image of an archive holds, by the tags
// manifest.json gives it (as `docker save` writes them): an archive of
// several images (`docker save a b`, each layer they share once) has each
// image's own layers read once, and each tag gets the components of the
// layers its entry names.
func ImagesTar(path string) (map[string][]cdx.Component, error) {
	a, err := readArchive(path)
	if err != nil {
		return nil, err
	}
	if a.manifest == nil {
		return nil, fmt.Errorf("%s: no manifest.json: not an archive docker save writes", path)
	}
	var entries []struct{ RepoTags, Layers []string }
	if err := json.Unmarshal(a.manifest, &entries); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", path, err)
	}
	out := map[string][]cdx.Component{}
	for _, e := range entries {
		cs := a.components(e.Layers)
		for _, t := range e.RepoTags {
			out[t] = cs
		}
	}
	return out, nil
}

// archive is what one pass over a saved image archive read: the components
// of each layer (by its name in the archive, as manifest.json names it) and
// manifest.json.
type archive struct {
	layers   map[string][]cdx.Component
	order    []string          // layer names as read
	links    map[string]string // a link's name → what it names
	manifest []byte
}

func readArchive(file string) (*archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if br := bufio.NewReader(f); isGzip(br) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		r = gz
	} else {
		r = br
	}
	a := &archive{layers: map[string][]cdx.Component{}, links: map[string]string{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			// docker save of images sharing a layer: the layer once, the
			// other images' layer.tar a link to it
			target := h.Linkname
			if h.Typeflag == tar.TypeSymlink {
				target = path.Join(path.Dir(h.Name), h.Linkname)
			}
			a.links[h.Name] = target
			continue
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Name == "manifest.json" {
			if a.manifest, err = io.ReadAll(io.LimitReader(tr, 4<<20)); err != nil {
				return nil, fmt.Errorf("%s: manifest.json: %w", file, err)
			}
			continue
		}
		// the layers: layer.tar (docker) or blobs/sha256/<digest> (OCI)
		if !strings.HasSuffix(h.Name, ".tar") && !strings.Contains(h.Name, "blobs/") && !strings.HasSuffix(h.Name, ".tar.gz") {
			continue
		}
		cs, err := layer(tr, h.Size)
		if err != nil {
			continue // a blob that is not a layer (config, manifest)
		}
		if _, dup := a.layers[h.Name]; !dup {
			a.order = append(a.order, h.Name)
		}
		a.layers[h.Name] = cs
	}
}

// components are the layers' components, each once, ordered by package URL.
func (a *archive) components(layers []string) []cdx.Component {
	var out []cdx.Component
	seen := map[string]bool{}
	for _, l := range layers {
		for hops := 0; hops < 8 && a.links[l] != ""; hops++ {
			l = a.links[l]
		}
		for _, c := range a.layers[l] {
			key := c.PackageURL + "|" + propValue(c, "lab:file")
			if !seen[key] {
				seen[key] = true
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PackageURL < out[j].PackageURL })
	return out
}

func isGzip(br *bufio.Reader) bool {
	b, err := br.Peek(2)
	return err == nil && b[0] == 0x1f && b[1] == 0x8b
}

// layer catalogues one layer tar (gzipped or not).
func layer(r io.Reader, size int64) ([]cdx.Component, error) {
	br := bufio.NewReader(io.LimitReader(r, size))
	var lr io.Reader = br
	if isGzip(br) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		lr = gz
	}
	tr := tar.NewReader(lr)
	var out []cdx.Component
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if len(out) == 0 {
				return nil, err
			}
			return out, nil
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case name == "var/lib/dpkg/status" || strings.HasPrefix(name, "var/lib/dpkg/status.d/"):
			b, _ := io.ReadAll(io.LimitReader(tr, 64<<20))
			out = append(out, dpkg(b)...)
		case name == "lib/apk/db/installed":
			b, _ := io.ReadAll(io.LimitReader(tr, 64<<20))
			out = append(out, apk(b)...)
		case h.Mode&0o111 != 0 && h.Size > 4<<10 && h.Size < 512<<20:
			b, err := io.ReadAll(tr)
			if err != nil || !bytes.HasPrefix(b, []byte("\x7fELF")) {
				continue
			}
			if cs, err := GoBinary("/"+name, bytes.NewReader(b)); err == nil {
				out = append(out, cs...)
			}
		}
	}
}

// dpkg parses a dpkg status file (installed packages only).
func dpkg(b []byte) []cdx.Component {
	var out []cdx.Component
	for _, para := range strings.Split(string(b), "\n\n") {
		f := fields(para)
		if f["Package"] == "" || (f["Status"] != "" && !strings.HasSuffix(f["Status"], "installed")) {
			continue
		}
		purl := fmt.Sprintf("pkg:deb/debian/%s@%s", f["Package"], f["Version"])
		if a := f["Architecture"]; a != "" {
			purl += "?arch=" + a
		}
		out = append(out, cdx.Component{Type: cdx.ComponentTypeLibrary, Name: f["Package"], Version: f["Version"], PackageURL: purl})
	}
	return out
}

// apk parses Alpine's installed database (P: name, V: version, A: arch).
func apk(b []byte) []cdx.Component {
	var out []cdx.Component
	for _, para := range strings.Split(string(b), "\n\n") {
		f := map[string]string{}
		for _, l := range strings.Split(para, "\n") {
			if len(l) > 2 && l[1] == ':' {
				f[l[:1]] = l[2:]
			}
		}
		if f["P"] == "" {
			continue
		}
		out = append(out, cdx.Component{Type: cdx.ComponentTypeLibrary, Name: f["P"], Version: f["V"],
			PackageURL: fmt.Sprintf("pkg:apk/alpine/%s@%s?arch=%s", f["P"], f["V"], f["A"])})
	}
	return out
}

func fields(para string) map[string]string {
	f := map[string]string{}
	for _, l := range strings.Split(para, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(l, " ") {
			f[k] = strings.TrimSpace(v)
		}
	}
	return f
}

func propValue(c cdx.Component, name string) string {
	if c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Names are the package URLs of b's components (nested ones included), for
// checks and diffs.
func Names(b *cdx.BOM) []string {
	var out []string
	for _, c := range Flatten(b) {
		if c.PackageURL != "" {
			out = append(out, c.PackageURL)
		}
	}
	sort.Strings(out)
	return out
}

// JSON is b encoded, for digests.
func JSON(b *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
