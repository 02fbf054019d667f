package pipeline

import (
	"context"
	"net/http"
	"time"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/nvidia"
	"lab.dev/lab/stacks"
)

// DoctorEnv is what the doctor's checks read for lab l: this host, its GPU
// through NVML, the chart repositories of the enabled stacks (unless
// offline), and resolvers for the provider's binaries, Terraform and an
// existing cluster. `lab doctor` and the up preflight share it.
func DoctorEnv(l *config.Lab, offline bool, timeout time.Duration) *doctor.Env {
	env := &doctor.Env{Lab: l, Host: doctor.SystemHost{}, GPU: nvidia.NVML(),
		HTTP: &http.Client{Timeout: timeout}, Offline: offline, Terraform: cluster.TerraformVersion,
		KwokBins: func() (string, error) {
			dir := l.Cluster.Kwok.BinDir
			if dir == "" {
				dir = kwok.DefaultBinDir()
			}
			return dir, kwok.CheckBinaries(dir)
		},
		Existing: func(ctx context.Context) (string, error) {
			p, err := cluster.New(l, state.LabDir(l.Metadata.Name))
			if err != nil {
				return "", err
			}
			cfg, err := p.RESTConfig()
			if err != nil {
				return "", err
			}
			return cfg.Host + " ready", cluster.APIReady(ctx, cfg)
		}}
	if l.Cluster.Capabilities().NodeImage {
		env.NodeImage = cluster.NodeImage(l) // probed as a privileged container if already present
	}
	for _, s := range stacks.Enabled(l) {
		for _, ch := range s.Charts {
			env.Endpoints = append(env.Endpoints, doctor.Endpoint{Name: ch.Name, URL: ch.Repo})
		}
	}
	return env
}

// LabModel is the Ollama model lab l runs: the one its last `lab up`
// recorded, else (no lab, or one from before the record) what Model picks
// for this host's GPU.
func LabModel(l *config.Lab) string {
	if m, err := AppliedModel(state.LabDir(l.Metadata.Name)); err == nil && m != "" {
		return m
	}
	return Model(l, &doctor.Env{Lab: l, GPU: nvidia.NVML()})
}

// Model is the Ollama model for lab l: lab.yaml's, or with `auto` the one
// that fits the largest GPU's VRAM that env reads (CPU-sized without one).
func Model(l *config.Lab, env *doctor.Env) string {
	var vram uint64
	if env != nil {
		gpu, _ := env.GPUInfo()
		vram = gpu.LargestVRAM()
	}
	return doctor.ResolveModel(l, vram)
}
