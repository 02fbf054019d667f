package llm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/ollama/ollama/api"
	"go.opentelemetry.io/otel/attribute"

	"lab.dev/lab/core/telemetry"
)

// Window is what one model can take in one call. Ollama cuts a prompt longer
// than num_ctx without an error, so lab sizes num_ctx itself and shrinks the
// log digest (never the instructions) when prompt and answer would not fit.
type Window struct {
	Context       int     // the model's context length, in its tokens (from /api/show)
	TokensPerChar float64 // what a prompt character costs the model, measured once
	Predict       int     // num_predict: room kept for the answer
}

// FitChars is how many prompt characters fit beside the answer.
func (w Window) FitChars() int {
	if w.Context <= 0 || w.TokensPerChar <= 0 {
		return 0
	}
	return int(float64(w.Context-w.Predict-windowMargin) / w.TokensPerChar)
}

// NumCtx is the num_ctx for a prompt of chars characters: the first step of
// a fixed ladder that holds prompt and answer (a fixed ladder, so Ollama does
// not reload the model for every size), at most the model's context.
func (w Window) NumCtx(chars int) int {
	need := int(float64(chars)*w.TokensPerChar) + w.Predict + windowMargin
	for _, n := range []int{2048, 4096, 8192, 16384, 32768, 65536, 131072} {
		if n >= need {
			need = n
			break
		}
	}
	if w.Context > 0 && need > w.Context {
		need = w.Context
	}
	return need
}

// windowMargin covers the chat template's tokens around the messages.
const windowMargin = 64

type windowCache struct {
	mu sync.Mutex
	w  Window
	ok bool
}

// Window reads the model's context length and measures its tokens per
// character with one short call (num_predict 1) on a prompt that starts with
// a random nonce, so no cached prefix hides tokens from the count. The result
// is kept for the client's life.
// A failed measurement is not kept (the next diagnosis tries again), and an
// open breaker is not bypassed.
func (c *Client) Window(ctx context.Context) (Window, error) {
	wc := &c.windowOnce
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if !wc.ok {
		if c.Breaker != nil && c.Breaker.State() == Open {
			return Window{}, fmt.Errorf("model %s: circuit breaker open", c.Model)
		}
		mctx, span := telemetry.Start(ctx, "", "show "+c.Model, attribute.String("gen_ai.request.model", c.Model))
		w, err := c.measureWindow(context.WithValue(mctx, traceKey{}, TraceOf(ctx)))
		span.SetAttributes(attribute.Int("lab.llm.num_ctx", w.Context))
		telemetry.End(span, err)
		if err != nil {
			return Window{}, err
		}
		wc.w, wc.ok = w, true
	}
	w := wc.w
	w.Predict = c.predict()
	return w, nil
}

// WithTrace carries a trace id to every model request made with ctx.
func WithTrace(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceOf is the trace id ctx carries, if any.
func TraceOf(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

func (c *Client) predict() int {
	switch v := c.Options["num_predict"].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 512
}

func (c *Client) measureWindow(ctx context.Context) (Window, error) {
	var w Window
	show, err := c.API.Show(ctx, &api.ShowRequest{Model: c.Model})
	if err != nil {
		return w, fmt.Errorf("reading model %s: %w", c.Model, err)
	}
	w.Context = contextLength(show.ModelInfo)
	if w.Context <= 0 {
		w.Context = 2048 // what Ollama assumes for a model that does not say
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	text := "calibration " + hex.EncodeToString(nonce) + "\n" + System
	stream := false
	var final api.ChatResponse
	err = c.API.Chat(ctx, &api.ChatRequest{Model: c.Model, Stream: &stream,
		Messages: []api.Message{{Role: "user", Content: text}},
		Options:  map[string]any{"num_predict": 1, "num_ctx": min(w.Context, 4096), "temperature": 0}},
		func(r api.ChatResponse) error { final = r; return nil })
	if err != nil {
		return w, fmt.Errorf("measuring model %s: %w", c.Model, err)
	}
	w.TokensPerChar = float64(final.PromptEvalCount) / float64(len(text))
	if w.TokensPerChar <= 0 {
		w.TokensPerChar = 0.5 // unmeasured: assume a costly tokenizer rather than a cut prompt
	}
	return w, nil
}

// contextLength is "<architecture>.context_length" of /api/show's model_info.
func contextLength(info map[string]any) int {
	arch, _ := info["general.architecture"].(string)
	for k, v := range info {
		if k == arch+".context_length" || (arch == "" && strings.HasSuffix(k, ".context_length")) {
			if f, ok := v.(float64); ok {
				return int(f)
			}
		}
	}
	return 0
}
