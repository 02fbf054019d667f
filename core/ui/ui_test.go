package ui

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the spinner's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A progress line printed while a step's spinner turns must not land on the
// spinner's line ("\r⠙ stacks  argocd/argocd: installed"): the frame is
// cleared first, so the line starts at column 0 of a line of its own.
func TestProgressDuringSpinnerGetsItsOwnLine(t *testing.T) {
	var err syncBuffer
	u := &UI{Out: &bytes.Buffer{}, Err: &err, TTY: true}
	_ = u.Step("stacks", func() (string, error) {
		time.Sleep(250 * time.Millisecond) // a few frames
		u.Progress("  argocd/argocd: installed")
		u.Debug(0, "detail")
		time.Sleep(150 * time.Millisecond)
		return "done", nil
	})
	// What a terminal shows: each \r returns to column 0 and \x1b[K clears
	// the rest of the line, so the screen's lines are what remains after the
	// last \r of each.
	var screen []string
	for _, line := range strings.Split(err.String(), "\n") {
		if i := strings.LastIndex(line, "\r"); i >= 0 {
			line = line[i+1:]
		}
		screen = append(screen, strings.TrimPrefix(line, "\x1b[K"))
	}
	want := []string{"  argocd/argocd: installed", "  detail"}
	for _, w := range want {
		found := false
		for _, l := range screen {
			if l == w {
				found = true
			}
		}
		if !found {
			t.Errorf("line %q not on a line of its own; the terminal shows %q", w, screen)
		}
	}
	// The raw stream: the frame was wiped right before the line was written.
	if !strings.Contains(err.String(), "\r\x1b[K  argocd/argocd: installed\n") {
		t.Errorf("no clear before the progress line: %q", err.String())
	}
	if strings.Contains(err.String(), "stacks  argocd") || strings.Contains(err.String(), "stacks  argocd/argocd") {
		t.Errorf("progress appended to the spinner's frame: %q", err.String())
	}
}

// Without a TTY there is no spinner and no control characters.
func TestNoSpinnerWithoutTTY(t *testing.T) {
	var err syncBuffer
	u := &UI{Out: &bytes.Buffer{}, Err: &err}
	_ = u.Step("cluster", func() (string, error) { u.Progress("x"); return "", nil })
	if strings.ContainsAny(err.String(), "\r\x1b") {
		t.Errorf("control characters without a TTY: %q", err.String())
	}
}
