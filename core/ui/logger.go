package ui

// Logger is the one shape in which lab's packages report what they do:
// Progress for what a person follows, Debug for detail shown at -v. *UI is
// the terminal's Logger; Discard drops everything; Printf adapts a plain
// printf-style function (a test's t.Logf).
type Logger interface {
	Progress(format string, a ...any)
	Debug(level int, format string, a ...any)
}

// Discard is a Logger that prints nothing.
var Discard Logger = printf(nil)

// Printf returns a Logger that sends every line, progress or debug, to f.
func Printf(f func(format string, a ...any)) Logger { return printf(f) }

type printf func(format string, a ...any)

func (p printf) Progress(format string, a ...any) {
	if p != nil {
		p(format, a...)
	}
}

func (p printf) Debug(_ int, format string, a ...any) { p.Progress(format, a...) }

// Or returns l, or Discard when l is nil.
func Or(l Logger) Logger {
	if l == nil {
		return Discard
	}
	return l
}
