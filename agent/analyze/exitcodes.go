package analyze

import "fmt"

// ExitCodeMeaning explains a container exit code the way an SRE reads it.
func ExitCodeMeaning(code int32) string {
	switch code {
	case 0:
		return "exit code 0: it completed — a long-running container must not exit, and a task that finishes belongs in a Job"
	case 1:
		return "general application error (1): the process failed on its own, see its logs"
	case 2:
		return "exit code 2: a Go program's unrecovered panic or fatal runtime error, or a shell's misuse of a builtin / bad arguments"
	case 126:
		return "command found but not executable (126): permissions or a wrong binary"
	case 127:
		return "command not found (127): wrong entrypoint/command or missing binary in the image"
	case 128:
		return "invalid exit argument (128)"
	case 134:
		return "SIGABRT (134 = 128+6): the process aborted, often an assertion or a C library failure"
	case 137:
		return "SIGKILL (137 = 128+9): killed from outside — the OOM killer or a failed liveness probe"
	case 139:
		return "SIGSEGV (139 = 128+11): segmentation fault"
	case 143:
		return "SIGTERM (143 = 128+15): asked to stop (rollout, eviction, probe) and exited"
	}
	if code > 128 && code < 160 {
		return fmt.Sprintf("killed by signal %d (%d = 128+%d)", code-128, code, code-128)
	}
	return fmt.Sprintf("application-defined exit code %d", code)
}
