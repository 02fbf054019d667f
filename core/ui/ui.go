// Package ui is how lab talks to a person: results on stdout, progress on
// stderr, the √ ‼ × marks, colour only on a terminal and never with NO_COLOR,
// a spinner only on a TTY, and -q to silence progress.
package ui

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// UI carries the output streams and the user's verbosity choices.
type UI struct {
	In        io.Reader // answers to Confirm (stdin)
	Out       io.Writer // results
	Err       io.Writer // progress and diagnostics
	Color     bool
	TTY       bool // Err is a terminal: spinners allowed
	Quiet     bool
	Verbosity int
	mu        sync.Mutex
	spinning  bool // a spinner owns the current line of Err
}

// New builds a UI for the process's stdout and stderr.
func New(quiet bool, verbosity int) *UI {
	tty := isTerminal(os.Stderr)
	_, noColor := os.LookupEnv("NO_COLOR")
	return &UI{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, TTY: tty, Color: tty && isTerminal(os.Stdout) && !noColor && os.Getenv("TERM") != "dumb", Quiet: quiet, Verbosity: verbosity}
}

// ErrReported is returned when a command already printed why it failed
// (a failed check, drift, an unhealthy lab): exit 1 without an ERROR line.
var ErrReported = errors.New("")

// Confirm asks question on stderr and reads a y/N answer from In. Without a
// terminal nobody can answer: asked is false and nothing is read.
func (u *UI) Confirm(question string) (yes, asked bool) {
	if !u.TTY || u.In == nil {
		return false, false
	}
	fmt.Fprintf(u.Err, "%s [y/N] ", question)
	ans, _ := bufio.NewReader(u.In).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(ans), "y"), true
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Marks for pass, warning, failure and skipped, as linkerd check prints them.
const (
	MarkOK   = "√"
	MarkWarn = "‼"
	MarkFail = "×"
	MarkSkip = "-"
)

var colors = map[string]string{MarkOK: "\x1b[32m", MarkWarn: "\x1b[33m", MarkFail: "\x1b[31m", MarkSkip: "\x1b[2m"}

// Mark colours a mark when colour is on.
func (u *UI) Mark(m string) string {
	if !u.Color {
		return m
	}
	return colors[m] + m + "\x1b[0m"
}

// Bold emphasises s when colour is on.
func (u *UI) Bold(s string) string {
	if !u.Color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// Progress prints a progress line on stderr unless quiet.
func (u *UI) Progress(format string, a ...any) {
	if u.Quiet {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearSpinner()
	fmt.Fprintf(u.Err, format+"\n", a...)
}

// clearSpinner wipes the spinner's frame so a line printed during a step
// starts at column 0 on a line of its own; the spinner redraws on its next
// tick. Call with mu held.
func (u *UI) clearSpinner() {
	if u.spinning {
		fmt.Fprint(u.Err, "\r\x1b[K")
	}
}

// Debug prints on stderr when -v was given at least level times.
func (u *UI) Debug(level int, format string, a ...any) {
	if u.Verbosity < level {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearSpinner()
	fmt.Fprintf(u.Err, "  "+format+"\n", a...)
}

// Step runs fn showing "• title" then "√ title (1.2s)" or "× title"; on a TTY
// a spinner turns while it runs.
func (u *UI) Step(title string, fn func() (note string, err error)) error {
	start := time.Now()
	stop := u.spin(title)
	note, err := fn()
	stop()
	mark := MarkOK
	if err != nil {
		mark = MarkFail
	}
	if note != "" {
		note = ": " + note
	}
	u.Progress("%s %s%s (%s)", u.Mark(mark), title, note, time.Since(start).Round(10*time.Millisecond))
	return err
}

func (u *UI) spin(title string) func() {
	if u.Quiet || !u.TTY {
		return func() {}
	}
	u.mu.Lock()
	u.spinning = true
	u.mu.Unlock()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			u.mu.Lock()
			fmt.Fprintf(u.Err, "\r%c %s", frames[i%len(frames)], title)
			u.mu.Unlock()
			select {
			case <-done:
				u.mu.Lock()
				fmt.Fprint(u.Err, "\r\x1b[K")
				u.spinning = false
				u.mu.Unlock()
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
