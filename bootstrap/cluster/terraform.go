package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/config/v1alpha1"
	"lab.dev/lab/core/state"
)

// ErrNoTerraform: cluster.provisioner is terraform but no binary was found.
var ErrNoTerraform = errors.New("no terraform binary: install Terraform (>= 1.4) or OpenTofu, on PATH or in $LAB_TERRAFORM")

// terraformProvider keeps the lab's cluster in Terraform state for teams
// whose clusters live in IaC. lab renders a root module (main.tf + the
// cluster part of lab.yaml as cluster.yaml) into <lab dir>/terraform and
// drives init → plan → apply / destroy through terraform-exec. The module's
// one resource is a terraform_data whose create and destroy provisioners run
// `lab cluster create|delete` — the same kind/k3d/kwok code as without
// Terraform — and that is replaced when cluster.yaml changes. It needs only
// Terraform's built-in provider: init downloads nothing, so it works offline.
type terraformProvider struct {
	Provider // the cluster's own provider: Exists, Healthy, RESTConfig…
	lab      *config.Lab
	dir      string
	tfBin    string
	labBin   string
}

func newTerraform(l *config.Lab, dir string, inner Provider) *terraformProvider {
	self, _ := os.Executable()
	return &terraformProvider{Provider: inner, lab: l, dir: filepath.Join(dir, "terraform"), labBin: self}
}

// TerraformBinary is $LAB_TERRAFORM, else terraform on PATH, else tofu.
func TerraformBinary() (string, error) {
	if b := os.Getenv("LAB_TERRAFORM"); b != "" {
		return b, nil
	}
	for _, name := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoTerraform
}

// TerraformModule renders the root module for l, run by labBin; the file
// names are relative to the module folder.
func TerraformModule(l *config.Lab, labBin string) (map[string][]byte, error) {
	w := config.ToV1alpha1(l)  // cluster.yaml is a lab.yaml: the wire format
	w.Cluster.Provisioner = "" // what `lab cluster create` runs
	spec, err := yaml.Marshal(struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   v1alpha1.Metadata `json:"metadata"`
		Cluster    v1alpha1.Cluster  `json:"cluster"`
	}{w.APIVersion, w.Kind, w.Metadata, w.Cluster})
	if err != nil {
		return nil, err
	}
	main := fmt.Sprintf(`# Rendered by lab for the lab %[1]q (cluster.provisioner: terraform).
# lab rewrites this folder on every "lab up"; keep your own resources in
# another module and read the kubeconfig output from this one.
terraform {
  required_version = ">= 1.4.0"
}

variable "lab_bin" {
  description = "path of the lab binary that creates and deletes the cluster"
  type        = string
  default     = %[2]q
}

# The %[3]s cluster of lab %[1]q. Replaced when cluster.yaml changes.
resource "terraform_data" "cluster" {
  triggers_replace = filesha256("${path.module}/cluster.yaml")
  input = {
    lab    = var.lab_bin
    config = abspath("${path.module}/cluster.yaml")
  }

  provisioner "local-exec" {
    command = "\"${self.input.lab}\" cluster create -c \"${self.input.config}\""
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"${self.input.lab}\" cluster delete -c \"${self.input.config}\""
  }
}

output "kubeconfig" {
  description = "the lab's kubeconfig file"
  value       = %[4]q
  depends_on  = [terraform_data.cluster]
}
`, l.Metadata.Name, labBin, l.Cluster.Provider, l.Cluster.Kubeconfig)
	return map[string][]byte{"main.tf": []byte(main), "cluster.yaml": spec}, nil
}

// terraform returns a runner whose output goes to terraform.log in the
// module folder; failed reports that log's tail with the error.
func (p *terraformProvider) terraform() (tf *tfexec.Terraform, failed func(string, error) error, done func(), err error) {
	if p.tfBin == "" {
		b, err := TerraformBinary()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cluster.provisioner terraform: %w", err)
		}
		p.tfBin = b
	}
	if tf, err = tfexec.NewTerraform(p.dir, p.tfBin); err != nil {
		return nil, nil, nil, err
	}
	logPath := filepath.Join(p.dir, "terraform.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	start, _ := log.Seek(0, io.SeekEnd)
	fmt.Fprintf(log, "\n### lab %s\n", time.Now().UTC().Format(time.RFC3339))
	tf.SetStdout(log)
	tf.SetStderr(log)
	failed = func(what string, err error) error {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(b[min(start, int64(len(b))):])), "\n")
		return fmt.Errorf("terraform %s in %s: %w\n%s", what, p.dir, err, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return tf, failed, func() { log.Close() }, nil
}

// Create renders the module and applies it: init, a saved plan, apply of
// that plan. A cluster Terraform believes in but that is gone (deleted by
// hand) is replaced.
func (p *terraformProvider) Create(ctx context.Context) error {
	l := *p.lab
	l.Cluster.Kubeconfig = p.Provider.Kubeconfig()
	files, err := TerraformModule(&l, p.labBin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	for name, b := range files {
		if err := state.WriteFile(filepath.Join(p.dir, name), b, 0o600); err != nil {
			return err
		}
	}
	tf, failed, done, err := p.terraform()
	if err != nil {
		return err
	}
	defer done()
	if err := tf.Init(ctx); err != nil {
		return failed("init", err)
	}
	var opts []tfexec.PlanOption
	if ok, err := p.Provider.Exists(ctx); err != nil {
		return err
	} else if !ok {
		opts = append(opts, tfexec.Replace("terraform_data.cluster"))
	}
	changed, err := tf.Plan(ctx, append(opts, tfexec.Out("lab.tfplan"))...)
	if err != nil {
		return failed("plan", err)
	}
	if !changed {
		return p.Provider.Create(ctx) // in state and present: only resume/refresh
	}
	if err := tf.Apply(ctx, tfexec.DirOrPlan("lab.tfplan")); err != nil {
		return failed("apply", err)
	}
	return nil
}

// Delete destroys through Terraform when there is state, then makes sure
// the cluster is gone (deleting a missing cluster succeeds).
func (p *terraformProvider) Delete(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dir, "terraform.tfstate")); err == nil {
		tf, failed, done, err := p.terraform()
		if err != nil {
			return err
		}
		defer done()
		if err := tf.Destroy(ctx); err != nil {
			return failed("destroy", err)
		}
	}
	return p.Provider.Delete(ctx)
}

// EnsureNodes goes through Terraform first: a changed cluster.yaml makes
// Terraform replace the cluster (the spec step has asked for --force before
// any cluster change); then the provider's own node step runs as without it.
func (p *terraformProvider) EnsureNodes(ctx context.Context) error {
	if err := p.Create(ctx); err != nil {
		return err
	}
	return p.Provider.EnsureNodes(ctx)
}

// TerraformVersion finds the Terraform binary and asks it its version
// (`terraform version -json`, through terraform-exec), for lab doctor.
func TerraformVersion(ctx context.Context) (string, string, error) {
	bin, err := TerraformBinary()
	if err != nil {
		return "", "", err
	}
	tf, err := tfexec.NewTerraform(os.TempDir(), bin)
	if err != nil {
		return bin, "", err
	}
	v, _, err := tf.Version(ctx, true)
	if err != nil {
		return bin, "", fmt.Errorf("%s version: %w", bin, err)
	}
	return bin, v.String(), nil
}

// Capabilities of the terraform provider (see config.Capabilities).
func (p *terraformProvider) Capabilities() config.Capabilities { return p.lab.Cluster.Capabilities() }
