//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"

	"lab.dev/lab/core/config"
	"lab.dev/lab/test/harness"
)

// ollamaChart is written for the tests in the shape of the upstream chart
// lab pins (otwld/ollama): the values lab sets (image, ollama.models.pull,
// persistentVolume, resources, runtimeClassName, tolerations) mean what they
// mean there, and the Deployment and Service carry its names and labels.
func ollamaChart() *chart.Chart {
	tpl := func(name, data string) *chart.File {
		return &chart.File{Name: "templates/" + name, Data: []byte(data)}
	}
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "ollama", Version: config.Pinned().Charts["ollama"], AppVersion: "test"},
		Values: map[string]any{
			"image":            map[string]any{"repository": "ollama/ollama", "tag": "latest"},
			"ollama":           map[string]any{"models": map[string]any{"pull": []any{}}},
			"persistentVolume": map[string]any{"enabled": false, "size": "1Gi"},
			"resources":        map[string]any{},
		},
		Templates: []*chart.File{
			tpl("deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/name: ollama, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app.kubernetes.io/name: ollama, app.kubernetes.io/instance: {{ .Release.Name }}}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ollama, app.kubernetes.io/instance: {{ .Release.Name }}}
    spec:
      {{- with .Values.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations: {{ toJson . }}
      {{- end }}
      containers:
      - name: ollama
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        imagePullPolicy: IfNotPresent
        env:
        - {name: OLLAMA_HOST, value: "0.0.0.0:11434"}
        - {name: OLLAMA_MODELS, value: /root/.ollama/models}
        ports: [{name: http, containerPort: 11434}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 2}
        resources: {{ toJson .Values.resources }}
        {{- if .Values.ollama.models.pull }}
        lifecycle:
          postStart:
            exec: {command: [/bin/sh, -c, "{{ range .Values.ollama.models.pull }}ollama pull {{ . }}; {{ end }}"]}
        {{- end }}
        volumeMounts: [{name: data, mountPath: /root/.ollama}]
      volumes:
      - name: data
        {{- if .Values.persistentVolume.enabled }}
        persistentVolumeClaim: {claimName: {{ .Release.Name }}}
        {{- else }}
        emptyDir: {}
        {{- end }}
`),
			tpl("service.yaml", `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/name: ollama}
spec:
  selector: {app.kubernetes.io/name: ollama, app.kubernetes.io/instance: {{ .Release.Name }}}
  ports: [{name: http, port: 11434, targetPort: http}]
`),
			tpl("pvc.yaml", `{{- if .Values.persistentVolume.enabled }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: {{ .Release.Name }}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: {{ .Values.persistentVolume.size }}}}
{{- end }}
`),
		},
	}
}

// The seed's air-gapped flow on real nodes: `lab bundle`'s archive of the
// Ollama stack — the chart, an Ollama image built here (the harness's
// binary on the node image's Debian base) and the test model — then `lab up
// --offline --bundle` loads the image into the nodes, installs the chart
// (its model volume from the kind image's local-path StorageClass), imports
// the model through a port-forward, and the in-cluster diagnosis Job asks
// that Ollama through its Service.
func kindOllama(t *testing.T, ctx context.Context, k *kindLab) {
	src := sharedOllama(t)
	dir := t.TempDir()
	bin := filepath.Join(os.Getenv("LAB_TESTBIN"), "ollama")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("the harness's ollama binary: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ollama"), data, 0o755)
	const img = "lab.dev/ollama:test"
	buildImage(t, ctx, img, dir, "FROM lab.dev/kind/base:"+config.Pinned().Components["debian"]+
		"\nCOPY ollama /usr/bin/ollama\nENV OLLAMA_HOST=0.0.0.0:11434\nENTRYPOINT [\"/usr/bin/ollama\"]\nCMD [\"serve\"]\n")

	y := "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: kindlab}\n" +
		"cluster: {provider: kind, workers: 2, nodeImage: \"" + kindNodeImage(t, ctx) + "\"}\n" +
		"stacks: {argocd: {enabled: false}, linkerd: {enabled: false}, prometheus: {enabled: false},\n" +
		"  ollama: {enabled: true, model: \"" + src.Model + "\", values: {image: {repository: lab.dev/ollama, tag: test}, resources: {requests: {cpu: 100m, memory: 256Mi}}}}}\n" +
		"agent: {namespaces: [demo]}\n"
	if err := os.WriteFile(k.cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := harness.ServeModels(src.ModelsDir())
	archive, m := kindBundle(t, ctx, k, &bundleModelSource{model: src.Model, registry: reg.URL}, ollamaChart())
	reg.Close() // the air gap from here on
	if len(m.Images) != 1 || m.Images[0].Ref != img || m.Model == nil {
		t.Fatalf("bundle: images %+v, model %+v", m.Images, m.Model)
	}
	code, _, errOut := k.run("up", "--offline", "--bundle", archive)
	if code != 0 || !strings.Contains(errOut, "imported from the bundle and answers") {
		t.Fatalf("up --offline --bundle: %d\n%s", code, errOut)
	}
	t.Logf("offline up with the Ollama stack:\n%s", errOut)

	var rep struct {
		Model struct {
			Mode, Reason string
			Meta         *struct{ Model string }
		}
	}
	// Retried: between two restarts the rules may find nothing to explain
	// (see kindInCluster), and then no model is asked.
	for i := 0; i < 6 && (i == 0 || rep.Model.Meta == nil); i++ {
		var out string
		code, out, errOut = k.run("diagnose", "noenv", "-n", "demo", "--in-cluster", "-o", "json")
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("diagnose --in-cluster -o json: %d %v\n%s\n%s", code, err, out, errOut)
		}
		if rep.Model.Meta == nil {
			time.Sleep(5 * time.Second)
		}
	}
	// The tiny random-weight model's text is gibberish, so the answer may be
	// refused by the schema check; what must hold is that the Job reached
	// the lab's Ollama through its Service and that model answered.
	if rep.Model.Meta == nil || rep.Model.Meta.Model != src.Model {
		t.Fatalf("the in-cluster diagnosis did not get an answer from %s at %s: mode %s, reason %q\n%s", src.Model, config.OllamaService, rep.Model.Mode, rep.Model.Reason, errOut)
	}
	t.Logf("in-cluster diagnosis asked %s through %s: mode %s %s", rep.Model.Meta.Model, config.OllamaService, rep.Model.Mode, rep.Model.Reason)
}
