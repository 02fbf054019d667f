package nvidia

import (
	"fmt"
	"strings"
)

// Model is an Ollama model lab can default to, with the VRAM it needs to run
// fully on the GPU at its default (4-bit) quantisation with a modest context.
type Model struct {
	Name        string `json:"name"`
	MinVRAM     uint64 `json:"minVRAMBytes"`
	Description string `json:"description"`
}

// Models is the fit table, largest first. The thresholds sit a little under the
// marketed size because NVML reports the usable total (a "12 GB" RTX 3060
// reports 12 GiB, some cards a few hundred MiB less).
var Models = []Model{
	{Name: "llama3:8b", MinVRAM: 11*GiB + GiB/2, Description: "Llama 3 8B (Q4, ~4.7 GB weights, room for context)"},
	{Name: "phi3:mini", MinVRAM: 0, Description: "Phi-3 mini 3.8B (Q4, ~2.3 GB), runs on small GPUs and on CPU"},
}

// FitModel picks the largest model of Models that fits vram bytes (0 = no GPU).
func FitModel(vram uint64) Model {
	for _, m := range Models {
		if vram >= m.MinVRAM {
			return m
		}
	}
	return Models[len(Models)-1]
}

// Class says what kind of card a GPU is and whether it suits a lab.
type Class struct {
	Family   string `json:"family"` // consumer-rtx, workstation, datacenter, other
	Suitable bool   `json:"suitable"`
	Reason   string `json:"reason"`
	Model    string `json:"model"` // the Ollama model that fits its VRAM
}

var datacenter = []string{"H100", "H200", "H800", "B100", "B200", "GH200", "A100", "A800", "A30", "A10", "A16", "A2", "L4", "L40", "L20", "T4", "V100", "P100"}

// Classify decides the family of g and whether it is "RTX-class" or better:
// at least 8 GiB of VRAM and compute capability 7.5 (Turing) or newer, which is
// what current Ollama CUDA builds and an 8B model at 4 bits want.
func Classify(g GPU) Class {
	name := strings.ToUpper(g.Name)
	c := Class{Family: "other", Model: FitModel(g.MemoryTotalBytes).Name}
	switch {
	case strings.Contains(name, "RTX") && (strings.Contains(name, " A") || strings.Contains(name, "ADA") || strings.Contains(name, "QUADRO")):
		c.Family = "workstation"
	case strings.Contains(name, "RTX") || strings.Contains(name, "TITAN"):
		c.Family = "consumer-rtx"
	default:
		for _, d := range datacenter {
			if containsWord(name, d) {
				c.Family = "datacenter"
				break
			}
		}
	}
	major, minor := parseCC(g.ComputeCapability)
	vram := float64(g.MemoryTotalBytes) / float64(GiB)
	switch {
	case g.MemoryTotalBytes < 7*GiB+GiB/2:
		c.Reason = fmt.Sprintf("%.1f GiB of VRAM is under the 8 GiB an RTX-class lab wants", vram)
	case g.ComputeCapability != "" && (major < 7 || major == 7 && minor < 5):
		c.Reason = fmt.Sprintf("compute capability %s is older than 7.5 (Turing)", g.ComputeCapability)
	case g.MIGEnabled:
		c.Reason = "MIG is enabled: the whole GPU cannot be given to one node; lab schedules on MIG slices only if the device plugin exposes them"
		c.Suitable = true
	default:
		c.Suitable = true
		c.Reason = fmt.Sprintf("%.1f GiB of VRAM fits %s", vram, c.Model)
	}
	return c
}

func containsWord(s, w string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' || r == '_' }) {
		if f == w {
			return true
		}
	}
	return false
}

func parseCC(s string) (int, int) {
	var major, minor int
	if _, err := fmt.Sscanf(s, "%d.%d", &major, &minor); err != nil {
		return 0, 0
	}
	return major, minor
}
