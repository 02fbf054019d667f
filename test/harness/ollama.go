package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/fs/ggml"
)

// TinyModel is the name the harness registers its generated model under.
const TinyModel = "lab-tiny:latest"

// Ollama is a running `ollama serve` with the tiny model registered.
type Ollama struct {
	URL    string // http://127.0.0.1:port
	Model  string
	Client *api.Client
	Proc   *Proc
	dir    string
	temp   bool
}

// StartOllama runs the cached ollama binary on a free loopback port with its
// own model store in dir (a temp dir when empty), writes a tiny random-weight
// llama GGUF and registers it through the HTTP API (/api/blobs + /api/create).
// Its answers are gibberish; they exercise shapes, streaming, errors and
// JSON-schema constrained output, never content.
func StartOllama(ctx context.Context, dir string) (_ *Ollama, err error) {
	o := &Ollama{dir: dir, Model: TinyModel}
	if dir == "" {
		if o.dir, err = os.MkdirTemp("", "lab-ollama-"); err != nil {
			return nil, err
		}
		o.temp = true
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ollama's folder: %w", err)
	}
	// o is this function's own variable: `return nil, err` cannot turn the
	// cleanup's receiver into nil (it did, and the cleanup panicked).
	defer func() {
		if err != nil {
			o.Stop()
		}
	}()
	bin, err := Bin("ollama")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	o.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	o.Proc, err = StartProc(o.dir, "ollama", bin, []string{"serve"},
		"OLLAMA_HOST=127.0.0.1:"+strconv.Itoa(port), "OLLAMA_MODELS="+filepath.Join(o.dir, "models"),
		"HOME="+o.dir, "OLLAMA_NOPRUNE=1", "OLLAMA_KEEP_ALIVE=10m", "OLLAMA_NUM_PARALLEL=2")
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(o.URL)
	o.Client = api.NewClient(u, &http.Client{Timeout: 5 * time.Minute})
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err = o.Proc.WaitFor(wctx, "ollama /api/version", func(ctx context.Context) (bool, error) {
		_, err := o.Client.Version(ctx)
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	gguf := filepath.Join(o.dir, "tiny.gguf")
	if err = WriteTinyGGUF(gguf); err != nil {
		return nil, fmt.Errorf("writing tiny model: %w", err)
	}
	if err = o.Register(ctx, TinyModel, gguf); err != nil {
		return nil, err
	}
	return o, nil
}

// Register uploads a GGUF as a blob and creates model name from it with a
// minimal chat template.
func (o *Ollama) Register(ctx context.Context, name, gguf string) error {
	data, err := os.ReadFile(gguf)
	if err != nil {
		return err
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	if err := o.Client.CreateBlob(ctx, digest, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("uploading blob: %w", err)
	}
	return o.Client.Create(ctx, &api.CreateRequest{
		Model:      name,
		Files:      map[string]string{"tiny.gguf": digest},
		Template:   "{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}\n{{ end }}<|assistant|>",
		Parameters: map[string]any{"num_ctx": 1024, "num_predict": 256, "temperature": 0.7},
	}, func(api.ProgressResponse) error { return nil })
}

// Stop stops the server and removes a temp dir.
func (o *Ollama) Stop() {
	if o.Proc != nil {
		o.Proc.Stop(5 * time.Second)
	}
	if o.temp && os.Getenv("LAB_KEEP_HARNESS") == "" {
		os.RemoveAll(o.dir)
	}
}

// WriteTinyGGUF writes a 2-layer llama-architecture model with random F32
// weights (about 600 KB): a byte-level vocabulary so that any text, JSON
// included, can be produced under a grammar.
func WriteTinyGGUF(path string) error {
	const embd, ff, heads, layers = 64, 128, 4, 2
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3} // unknown, control, control
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6) // byte
	}
	for _, w := range []string{"▁", "▁the", "▁pod", "▁is", "▁ok", "{", "}", "\"", ":", ",", "▁true", "▁false"} {
		tokens = append(tokens, w)
		types = append(types, 1) // normal
	}
	scores := make([]float32, len(tokens))
	vocab := uint64(len(tokens))

	rng := rand.New(rand.NewSource(7))
	tensor := func(name string, shape ...uint64) *ggml.Tensor {
		n := uint64(1)
		for _, s := range shape {
			n *= s
		}
		w := make([]float32, n)
		for i := range w {
			if len(shape) == 1 {
				w[i] = 1 // norms
			} else {
				w[i] = float32(rng.NormFloat64() * 0.02)
			}
		}
		var b bytes.Buffer
		_ = binary.Write(&b, binary.LittleEndian, w)
		return &ggml.Tensor{Name: name, Kind: 0, Shape: shape, WriterTo: bytes.NewReader(b.Bytes())}
	}
	ts := []*ggml.Tensor{tensor("token_embd.weight", embd, vocab), tensor("output.weight", embd, vocab), tensor("output_norm.weight", embd)}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			tensor(p+"attn_norm.weight", embd), tensor(p+"ffn_norm.weight", embd),
			tensor(p+"attn_q.weight", embd, embd), tensor(p+"attn_k.weight", embd, embd),
			tensor(p+"attn_v.weight", embd, embd), tensor(p+"attn_output.weight", embd, embd),
			tensor(p+"ffn_gate.weight", embd, ff), tensor(p+"ffn_up.weight", embd, ff), tensor(p+"ffn_down.weight", ff, embd))
	}
	kv := ggml.KV{
		"general.architecture": "llama", "general.name": "lab-tiny", "general.file_type": uint32(0),
		"llama.context_length": uint32(8192), "llama.embedding_length": uint32(embd),
		"llama.block_count": uint32(layers), "llama.feed_forward_length": uint32(ff),
		"llama.attention.head_count": uint32(heads), "llama.attention.head_count_kv": uint32(heads),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5), "llama.rope.dimension_count": uint32(embd / heads),
		"llama.rope.freq_base": float32(10000), "llama.vocab_size": uint32(vocab),
		"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores,
		"tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": uint32(1),
		"tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.unknown_token_id": uint32(0),
		"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": false,
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ModelsDir is the server's model store (OLLAMA_MODELS).
func (o *Ollama) ModelsDir() string { return filepath.Join(o.dir, "models") }
