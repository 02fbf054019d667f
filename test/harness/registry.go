package harness

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
)

// ModelRegistry serves an Ollama model store (OLLAMA_MODELS) read-only with
// the registry endpoints `ollama pull` uses — manifests and blobs — so pulls
// are tested offline against a real Ollama. Blob downloads are redirected to
// a second host name, as Ollama's downloader expects of a registry's CDN.
type ModelRegistry struct {
	URL  string // http://127.0.0.1:port
	Host string // 127.0.0.1:port (the model name prefix)
	srv  *httptest.Server
}

// ServeModels serves store's manifests of registry.ollama.ai.
func ServeModels(store string) *ModelRegistry {
	r := &ModelRegistry{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, req *http.Request) {
		p := strings.TrimPrefix(req.URL.Path, "/v2/")
		if repo, tag, ok := strings.Cut(p, "/manifests/"); ok {
			f := filepath.Join(store, "manifests", "registry.ollama.ai", filepath.FromSlash(repo), tag)
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			serveFile(w, req, f)
			return
		}
		if _, digest, ok := strings.Cut(p, "/blobs/"); ok {
			if req.Method == http.MethodGet {
				_, port, _ := net.SplitHostPort(req.Host)
				http.Redirect(w, req, "http://localhost:"+port+"/cdn/"+digest, http.StatusTemporaryRedirect)
				return
			}
			serveFile(w, req, filepath.Join(store, "blobs", strings.Replace(digest, ":", "-", 1)))
			return
		}
		http.NotFound(w, req)
	})
	mux.HandleFunc("/cdn/", func(w http.ResponseWriter, req *http.Request) {
		serveFile(w, req, filepath.Join(store, "blobs", strings.Replace(filepath.Base(req.URL.Path), ":", "-", 1)))
	})
	r.srv = httptest.NewServer(mux)
	r.URL = r.srv.URL
	r.Host = strings.TrimPrefix(r.URL, "http://")
	return r
}

func serveFile(w http.ResponseWriter, req *http.Request, path string) {
	f, err := os.Open(path)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"not found"}]}`))
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	http.ServeContent(w, req, "", st.ModTime(), f)
}

// Close stops the registry.
func (r *ModelRegistry) Close() { r.srv.Close() }
