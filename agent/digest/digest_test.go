package digest

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// Seeded secrets of every kind lab redacts; none may survive into a digest.
var secrets = map[string]string{
	"jwt":         "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsYWIiLCJhZG1pbiI6dHJ1ZX0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ",
	"password":    "hunter2-Sup3rS3cret",
	"url":         "s3cr3tDbPass",
	"bearer":      "abcDEF123456789tokenvalue",
	"aws":         "AKIAIOSFODNN7EXAMPLE",
	"github":      "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB",
	"apikey":      "sk-live-0123456789abcdefXYZ",
	"private-key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
	"slack":       "xoxb-123456789012-abcdefghijkl",
	"token-json":  "tok_9f8e7d6c5b4a",
}

func secretLog() string {
	return strings.Join([]string{
		"2026-11-23T10:00:00Z INFO connecting to postgres://app:" + secrets["url"] + "@db.demo.svc:5432/ledger",
		"2026-11-23T10:00:01Z DEBUG Authorization: Bearer " + secrets["bearer"],
		"2026-11-23T10:00:02Z DEBUG session " + secrets["jwt"],
		"DB_PASSWORD=" + secrets["password"],
		"aws key " + secrets["aws"] + " loaded",
		"using token " + secrets["github"] + " for git",
		`{"level":"info","api_key":"` + secrets["apikey"] + `","token": "` + secrets["token-json"] + `"}`,
		"-----BEGIN RSA PRIVATE KEY-----",
		secrets["private-key"],
		"-----END RSA PRIVATE KEY-----",
		"slack hook auth " + secrets["slack"],
		"\x1b[31mERROR\x1b[0m failed to start: password=" + secrets["password"],
	}, "\n")
}

func TestNoSecretReachesTheDigest(t *testing.T) {
	d := Build([]Source{{ID: "log:app:previous", Text: secretLog()}}, Options{Budget: 5000})
	text := d.Text()
	for kind, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s secret leaked:\n%s", kind, text)
		}
	}
	if d.Redacted < len(secrets) {
		t.Errorf("redacted %d, want >= %d", d.Redacted, len(secrets))
	}
	if !strings.Contains(text, "postgres://app:[REDACTED:password]@db.demo.svc") {
		t.Errorf("connection string not kept readable:\n%s", text)
	}
	if strings.Contains(text, "\x1b[") || strings.Contains(text, "2026-11-23T10:00:00Z") {
		t.Errorf("ANSI or timestamps left:\n%s", text)
	}
}

func TestTemplatesCollapseRepeats(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "GET /api/orders/%d 200 %dms from 10.0.%d.%d\n", i, i%50, i%4, i%250)
	}
	b.WriteString("ERROR connection to redis-master:6379 refused\n")
	d := Build([]Source{{ID: "log:app:current", Text: b.String()}}, Options{Budget: 400})
	text := d.Text()
	if !strings.Contains(text, "[x493 more] GET /api/orders/<*> <*> <*> from <*> (L1-L500)") {
		t.Errorf("repeats not collapsed (7 of the last lines shown as they are, 493 more as one template):\n%s", text)
	}
	if !strings.Contains(text, "from 10.0.3.249\nERROR connection to redis-master:6379 refused\n") || !strings.Contains(text, "(log:app:current#L494-L501)") {
		t.Errorf("first error not cited with its line:\n%s", text)
	}
	if d.Tokens > 400 {
		t.Errorf("over budget: %d tokens", d.Tokens)
	}
}

func TestStackTraceKeptWholeAndFirstErrorFarBack(t *testing.T) {
	var b strings.Builder
	b.WriteString("INFO boot\nERROR config key payments.url is not set\n")
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&b, "INFO heartbeat seq=%d ok\n", i)
	}
	b.WriteString("panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 [running]:\nmain.charge(...)\n\t/src/pay.go:42 +0x1d\nmain.main()\n\t/src/main.go:12 +0x55\nexit status 2\n")
	d := Build([]Source{{ID: "log:app:previous", Text: b.String()}}, Options{Budget: 600})
	text := d.Text()
	for _, want := range []string{"payments.url is not set", "log:app:previous#L1-L2", "panic: runtime error", "/src/pay.go:42", "[x50000] INFO heartbeat seq=<*> ok (L3-L50002)"} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
	if d.Tokens > 600 {
		t.Errorf("over budget: %d", d.Tokens)
	}
}

func TestBudgetAlwaysRespected(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, budget := range []int{50, 120, 300, 1500} {
		var b strings.Builder
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(&b, "line %s %d\n", strings.Repeat(string(rune('a'+r.Intn(26))), r.Intn(300)), r.Int())
		}
		d := Build([]Source{{ID: "log:x:current", Text: b.String()}}, Options{Budget: budget})
		if d.Tokens > budget {
			t.Errorf("budget %d: got %d tokens", budget, d.Tokens)
		}
	}
}

// Each log line appears at most once: no two sections cite the same line,
// lines the findings quote are left out, and a template counts only the
// lines not shown as they are.
func TestEachLineAtMostOnce(t *testing.T) {
	text := "INFO boot\nERROR db: dial tcp db:5432: connect: connection refused\nFATAL cannot start\n"
	for i := 0; i < 30; i++ {
		text += fmt.Sprintf("INFO retry %d\n", i)
	}
	text += "panic: boom\n\tat x.go:1\nexit 2\n"
	d := Build([]Source{{ID: "log:app:previous", Text: text}}, Options{Budget: 2000, Shown: map[string]bool{"log:app:previous#L2": true}})
	out := d.Text()
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "### ") {
			continue
		}
		if seen[l] {
			t.Errorf("line %q appears twice:\n%s", l, out)
		}
		seen[l] = true
	}
	if strings.Contains(out, "connection refused") {
		t.Errorf("a line the findings quote is repeated:\n%s", out)
	}
	if !strings.Contains(out, "[x25 more] INFO retry <*> (L4-L33)") {
		t.Errorf("the template must count only the lines not shown (30 - the 5 among the last lines):\n%s", out)
	}
}

func TestCleanKeepsIndentation(t *testing.T) {
	for in, want := range map[string]string{
		"\t/src/pay.go:42 +0x1d":                    "\t/src/pay.go:42 +0x1d",
		"    10 frames omitted":                     "    10 frames omitted",
		"2026-11-23T10:00:00.123Z INFO up":          "INFO up",
		"[2026-11-23 10:00:00,123] WARN x":          "WARN x",
		"2026-11-23T10:00:00+01:00 ERROR y":         "ERROR y",
		"I1123 10:00:00.123456  1234 main.go:12] z": "z",
		"\x1b[31mERROR\x1b[0m boom\r":               "ERROR boom",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(secretLog())
	f.Add("panic: x\n\tat y\n")
	f.Fuzz(func(t *testing.T, s string) {
		d := Build([]Source{{ID: "log:f:current", Text: s}}, Options{Budget: 200})
		if d.Tokens > 200 {
			t.Fatalf("over budget: %d", d.Tokens)
		}
	})
}

// BenchmarkDigest reports MB/s on one core over a log of mixed lines.
func BenchmarkDigest(b *testing.B) {
	var sb strings.Builder
	r := rand.New(rand.NewSource(2))
	for sb.Len() < 8<<20 {
		switch r.Intn(10) {
		case 0:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02dZ ERROR upstream %d.%d.%d.%d:8080 connection refused (attempt %d)\n", r.Intn(60), r.Intn(60), r.Intn(255), r.Intn(255), r.Intn(255), r.Intn(255), r.Intn(9))
		case 1:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02dZ DEBUG token=%x user=%d\n", r.Intn(60), r.Intn(60), r.Int63(), r.Intn(1000))
		default:
			fmt.Fprintf(&sb, "2026-11-23T10:%02d:%02dZ INFO GET /api/v1/items/%d 200 %dms\n", r.Intn(60), r.Intn(60), r.Intn(100000), r.Intn(500))
		}
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Build([]Source{{ID: "log:app:current", Text: text}}, Options{Budget: 1500})
	}
}
