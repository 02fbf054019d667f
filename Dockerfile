# The agent's image (`make image`): lab's static binary — built with
# CGO_ENABLED=0, as NVML has no use in a pod — and the CA bundle of the
# build host for HTTPS sinks, nothing else. It runs as a non-root user with a
# read-only root filesystem (see manifests/agent).
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY lab-nocgo /lab
USER 65532:65532
ENTRYPOINT ["/lab"]
