package action

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/agent/predict"
	"lab.dev/lab/core/ui"
)

// lab agent serve will not start open by accident: a token is required
// unless --insecure-no-auth says otherwise, and a short one is refused.
func TestWebhookToken(t *testing.T) {
	t.Setenv("LAB_AGENT_WEBHOOK_TOKEN", "")
	dir := t.TempDir()
	good, short := filepath.Join(dir, "good"), filepath.Join(dir, "short")
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	os.WriteFile(short, []byte("abc"), 0o600)
	for _, c := range []struct {
		file   string
		noAuth bool
		tok    string
		err    string
	}{
		{"", false, "", "needs a bearer token"},
		{"", true, "", ""},
		{good, false, "0123456789abcdef0123", ""},
		{good, true, "", "pick one"},
		{short, false, "", "at least 16"},
		{filepath.Join(dir, "missing"), false, "", "--token-file"},
	} {
		tok, err := WebhookToken(c.file, c.noAuth)
		if tok != c.tok || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("WebhookToken(%q, %v) = %q, %v; want %q, %q", c.file, c.noAuth, tok, err, c.tok, c.err)
		}
	}
	t.Setenv("LAB_AGENT_WEBHOOK_TOKEN", "from-the-environment-0123")
	if tok, err := WebhookToken("", false); err != nil || tok != "from-the-environment-0123" {
		t.Errorf("env: %q %v", tok, err)
	}
}

// An API server warning is detail for -v, never a klog line in lab's output.
func TestAPIWarningsAreDebug(t *testing.T) {
	var quiet, verbose strings.Builder
	apiWarnings{&ui.UI{Err: &quiet, Out: &quiet}}.HandleWarningHeader(299, "", `metadata.finalizers: "resources-finalizer.argocd.argoproj.io": prefer a domain-qualified finalizer name`)
	apiWarnings{&ui.UI{Err: &verbose, Out: &verbose, Verbosity: 1}}.HandleWarningHeader(299, "", "v1 Endpoints is deprecated")
	if quiet.String() != "" || !strings.Contains(verbose.String(), "API server warning: v1 Endpoints is deprecated") {
		t.Errorf("without -v: %q; with: %q", quiet.String(), verbose.String())
	}
}

// What the agent says of a series too young for its trend: the sample
// count, and the least-squares line's time only when it rises to the limit.
func TestYoungWhy(t *testing.T) {
	po := predict.Options{Window: 10 * time.Minute}
	at := time.Date(2026, 12, 3, 12, 4, 0, 0, time.UTC)
	for _, c := range []struct {
		y    predict.Young
		want string
	}{
		{predict.Young{Samples: 6, Unit: "bytes", Limit: 48 << 20, Reaches: true, In: 3*time.Minute + 50*time.Second, At: at},
			"its series is too young for a trend: 6 samples in the last 10m, a trend and its band want 10; a least-squares line through them (what predict_linear fits; no band) reaches the limit (48MiB) in ≈ 4m, at 2026-12-03T12:04:00Z"},
		{predict.Young{Samples: 6, Unit: "bytes", Limit: 48 << 20, Reaches: true},
			"its series is too young for a trend: 6 samples in the last 10m, a trend and its band want 10; a least-squares line through them is at the limit (48MiB) already"},
		{predict.Young{Samples: 4, Limit: 1},
			"its series is too young for a trend: 4 samples in the last 10m, a trend and its band want 10; a least-squares line through them does not rise"},
		{predict.Young{Samples: 2, Limit: 1},
			"its series is too young for a trend: 2 samples in the last 10m, a trend and its band want 10"},
	} {
		if got := youngWhy(c.y, po); got != c.want {
			t.Errorf("youngWhy(%+v):\n got %s\nwant %s", c.y, got, c.want)
		}
	}
}

// --namespaces replaces lab.yaml's list whole; a name that could not be a
// namespace is refused with the flag named.
func TestServeNamespaces(t *testing.T) {
	lab := []string{"default", "demo"}
	if got, err := serveNamespaces(nil, lab); err != nil || fmt.Sprint(got) != "[default demo]" {
		t.Errorf("no flag: %v %v", got, err)
	}
	if got, err := serveNamespaces([]string{"shop"}, lab); err != nil || fmt.Sprint(got) != "[shop]" {
		t.Errorf("flag: %v %v", got, err)
	}
	for _, bad := range []string{"Shop", "a/b", "", "x.y"} {
		if _, err := serveNamespaces([]string{"shop", bad}, lab); err == nil || !strings.Contains(err.Error(), "--namespaces") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
