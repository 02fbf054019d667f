package cluster

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kinderrors "sigs.k8s.io/kind/pkg/errors"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// fakeNode records the commands run in it (unit level: kind nodes need a
// container engine and, for this path, a GPU).
type fakeNode struct {
	name string
	ran  *[]string
	fail bool
}

func (n fakeNode) String() string              { return n.name }
func (n fakeNode) Role() (string, error)       { return "worker", nil }
func (n fakeNode) IP() (string, string, error) { return "", "", nil }
func (n fakeNode) SerialLogs(io.Writer) error  { return nil }
func (n fakeNode) Command(c string, a ...string) kindexec.Cmd {
	*n.ran = append(*n.ran, n.name+": "+c+" "+strings.Join(a, " "))
	return &fakeCmd{fail: n.fail}
}
func (n fakeNode) CommandContext(_ context.Context, c string, a ...string) kindexec.Cmd {
	return n.Command(c, a...)
}

type fakeCmd struct {
	fail   bool
	stderr io.Writer
}

func (c *fakeCmd) Run() error {
	if c.fail {
		io.WriteString(c.stderr, "no nvidia-ctk in the node image and nvidia.github.io is unreachable")
		return errors.New("exit status 3")
	}
	return nil
}
func (c *fakeCmd) SetEnv(...string) kindexec.Cmd      { return c }
func (c *fakeCmd) SetStdin(io.Reader) kindexec.Cmd    { return c }
func (c *fakeCmd) SetStdout(io.Writer) kindexec.Cmd   { return c }
func (c *fakeCmd) SetStderr(w io.Writer) kindexec.Cmd { c.stderr = w; return c }

// Only the GPU workers get the nvidia runtime; a node that cannot be
// configured is named with the script's own explanation.
func TestPatchGPUNodes(t *testing.T) {
	var ran []string
	nodesList := []fakeNode{{name: "lab-control-plane", ran: &ran}, {name: "lab-worker", ran: &ran}, {name: "lab-worker2", ran: &ran}}
	if err := patchGPUNodes(asNodes(nodesList), []string{"lab-worker2"}); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || !strings.HasPrefix(ran[0], "lab-worker2: sh -c") || !strings.Contains(ran[0], "nvidia-ctk runtime configure --runtime=containerd --set-as-default") {
		t.Fatalf("commands: %q", ran)
	}
	ran = nil
	nodesList[1].fail = true
	err := patchGPUNodes(asNodes(nodesList), []string{"lab-worker"})
	if err == nil || !strings.Contains(err.Error(), "GPU node lab-worker") || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("error: %v", err)
	}
}

// The script is valid sh.
func TestGPUNodeScriptParses(t *testing.T) {
	if out, err := exec.Command("sh", "-n", "-c", gpuNodeScript).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	for _, want := range []string{"umount -R /proc/driver/nvidia", "systemctl restart containerd", gpuNodeMarker} {
		if !strings.Contains(gpuNodeScript, want) {
			t.Errorf("script lacks %q", want)
		}
	}
}

func asNodes(f []fakeNode) []nodes.Node {
	out := make([]nodes.Node, len(f))
	for i := range f {
		out[i] = f[i]
	}
	return out
}

// kind's error names the command and its exit status; the command's own
// words (docker run's stderr on exit 125) come with lab's error, cut to
// their last KiB.
func TestPrinted(t *testing.T) {
	run := &kindexec.RunError{Command: []string{"docker", "run"}, Output: []byte("docker: Error response from daemon: no space left on device.\n"), Inner: errors.New("exit status 125")}
	if got := printed(kinderrors.Wrap(run, "creating nodes")); got != "docker: Error response from daemon: no space left on device." {
		t.Errorf("got %q", got)
	}
	if got := printed(errors.New("plain")); got != "" {
		t.Errorf("plain error: %q", got)
	}
	run.Output = []byte(strings.Repeat("x", 5000) + "the end")
	if got := printed(run); !strings.HasSuffix(got, "the end") || len(got) > 1100 {
		t.Errorf("long output: %d bytes", len(got))
	}
}

// Only the engine's refusal of a node container (`docker run` failing) is
// made again; kind's other failures (a control plane that never became
// ready, a config the engine rejects at exec) are not.
func TestNodeContainerRefused(t *testing.T) {
	for _, c := range []struct {
		cmd  []string
		want bool
	}{
		{[]string{"docker", "run", "--name", "kindlab-worker"}, true},
		{[]string{"/usr/bin/podman", "run", "x"}, true},
		{[]string{"docker", "exec", "kindlab-control-plane", "kubeadm", "init"}, false},
		{[]string{"docker"}, false},
	} {
		err := kinderrors.Wrap(&kindexec.RunError{Command: c.cmd, Inner: errors.New("exit status 125")}, "creating nodes")
		if got := nodeContainerRefused(err); got != c.want {
			t.Errorf("%v: %v", c.cmd, got)
		}
	}
	if nodeContainerRefused(errors.New("timed out waiting for the control plane")) {
		t.Error("a plain error")
	}
}
