package runbook

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"lab.dev/lab/manifests"
)

func TestSplitAtHeadings(t *testing.T) {
	md := "# Probes\n\nintro text\n\n## Readiness probe failing\nport and path\n```sh\n## not a heading\n```\n### Startup\nslow\n"
	secs := Split("probes.md", "embedded", md)
	if len(secs) != 3 || secs[0].Heading != "Probes" || secs[1].Heading != "Readiness probe failing" || secs[2].Heading != "Startup" {
		t.Fatalf("sections %+v", secs)
	}
	if !strings.Contains(secs[1].Text, "## not a heading") || secs[1].Title != "Probes" || secs[1].Ref() != "probes.md#Readiness probe failing" {
		t.Errorf("section %+v", secs[1])
	}
}

func TestTerms(t *testing.T) {
	got := strings.Join(Terms("CrashLoopBackOff: the pods are restarting, x509 OOMKilled"), " ")
	for _, want := range []string{"crashloopbackoff", "crash", "loop", "back", "restart", "x509", "oomkill", "oom"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("Terms = %q, lacks %q", got, want)
		}
	}
	if strings.Contains(" "+got+" ", " the ") || strings.Contains(got, "pods") {
		t.Errorf("stop words kept: %q", got)
	}
}

func shipped(t *testing.T) *Index {
	sub, err := fs.Sub(manifests.GitOps, "gitops/runbooks")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Load(sub)
	if err != nil || len(ix.Sections) < 25 {
		t.Fatalf("%d sections, %v", len(ix.Sections), err)
	}
	return ix
}

func TestSearchShippedRunbooks(t *testing.T) {
	ix := shipped(t)
	for q, want := range map[string]string{
		"ImagePullAuth the registry refused (401 Unauthorized): the pod needs an image pull secret": "images.md#Registry authorization: image pull secrets",
		"QuotaExceeded exceeded quota: compute-quota, requested: limits.memory=2Gi":                 "admission.md#ResourceQuota exceeded",
		"DNSFailure the application cannot resolve payments.payment.svc (no such host)":             "dependencies.md#DNS: no such host and NXDOMAIN",
	} {
		hits := ix.Search(q, 3)
		if len(hits) == 0 || hits[0].Ref() != want || hits[0].Lexical != 1 {
			t.Errorf("Search(%q) = %v, want %s first", q, hits, want)
		}
	}
	if hits := ix.Search("zzzz qqqq", 3); len(hits) != 0 {
		t.Errorf("a query sharing no term must find nothing: %v", hits)
	}
}

// An embedding that knows nothing (constant noise) must not reorder clear
// lexical results; one that knows the answer lifts a section sharing no word.
func TestHybridBlend(t *testing.T) {
	ix := shipped(t)
	noise := func(_ context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, s := range texts {
			v := make([]float32, 8)
			for j := range v {
				v[j] = float32((len(s)*(j+7))%13) - 6
			}
			out[i] = v
		}
		return out, nil
	}
	q := "QuotaExceeded exceeded quota: compute-quota, requested: limits.memory=2Gi"
	hits, err := ix.Hybrid(context.Background(), q, 3, noise)
	if err != nil || hits[0].Ref() != "admission.md#ResourceQuota exceeded" || hits[0].Semantic == 0 {
		t.Errorf("noise reordered a clear lexical answer: %v, %v", hits, err)
	}
	ix2 := shipped(t)
	oracle := func(_ context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, s := range texts {
			if strings.Contains(s, "Multi-Attach") || s == "volume glued to the old machine" {
				out[i] = []float32{1, 0}
			} else {
				out[i] = []float32{0, 1}
			}
		}
		return out, nil
	}
	hits, _ = ix2.Hybrid(context.Background(), "volume glued to the old machine", 3, oracle)
	if len(hits) == 0 || !strings.HasPrefix(hits[0].Heading, "Multi-Attach") {
		t.Errorf("a semantic match was not brought up: %v", hits)
	}
}
