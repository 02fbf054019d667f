package llm

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A hostile or broken model server answering without end cannot make the
// agent buffer it: embed (a whole-body read) and chat (a stream) both stop
// at the bound with an error.
func TestModelServerAnswersAreBounded(t *testing.T) {
	chunk := strings.Repeat(" ", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/embed":
			w.Write([]byte(`{"embeddings":[[`))
			for i := 0; i < 64; i++ { // 64 MiB of whitespace inside the JSON
				if _, err := w.Write([]byte(chunk)); err != nil {
					return
				}
			}
			w.Write([]byte(`]]}`))
		case "/api/chat":
			for i := 0; i < 1<<16; i++ { // an endless stream of small tokens
				if _, err := w.Write([]byte(`{"model":"m","message":{"role":"assistant","content":"` + strings.Repeat("x", 512) + `"},"done":false}` + "\n")); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "m", 20*time.Second, Retry{Attempts: 1}, &Breaker{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Embed(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "larger than lab reads") {
		t.Errorf("embed: %v, want the size bound", err)
	}
	_, _, err = c.Explain(context.Background(), Request{Evidence: []string{"e"}, OnToken: func(string) {}})
	if err == nil || !strings.Contains(err.Error(), "passed") && !strings.Contains(err.Error(), "larger than lab reads") {
		t.Errorf("chat: %v, want the size bound", err)
	}
}

// An answer of exactly the bound is read whole; one byte more is an error.
func TestBoundedBodyAtTheBound(t *testing.T) {
	read := func(n int) error {
		b := &boundedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", n))), left: 16}
		_, err := io.ReadAll(b)
		return err
	}
	if err := read(16); err != nil {
		t.Errorf("16 bytes with a bound of 16: %v", err)
	}
	if err := read(17); err != ErrResponseTooLarge {
		t.Errorf("17 bytes with a bound of 16: %v", err)
	}
}
