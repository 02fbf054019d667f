package config

import "testing"

func TestInClusterLLMEndpoint(t *testing.T) {
	for _, c := range []struct {
		endpoint string
		ollama   bool
		want     string
	}{
		{"http://127.0.0.1:11434", true, OllamaService},
		{"http://localhost:11434", true, OllamaService},
		{"http://[::1]:11434", true, OllamaService},
		{"http://127.0.0.1:11434", false, "http://127.0.0.1:11434"}, // no lab Ollama: nothing better to offer
		{"http://gpu-box.lan:11434", true, "http://gpu-box.lan:11434"},
	} {
		l := Default()
		l.Agent.LLM.Endpoint = c.endpoint
		l.Stacks.Ollama.Enabled = c.ollama
		if got := l.InClusterLLMEndpoint(); got != c.want {
			t.Errorf("%s (ollama %v): %s, want %s", c.endpoint, c.ollama, got, c.want)
		}
	}
}
