# keel as a container: a static binary (no cgo: modernc.org/sqlite is pure Go)
# on distroless, as a non-root user, with the database on a volume.
#   docker build -t keel . && docker run -p 8080:8080 -v keel-data:/data -e JWT_SECRET=... keel
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/keel ./cmd/keel \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keel /keel
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
ENV ADDR=:8080 DATABASE_URL=/data/keel.db
VOLUME ["/data"]
EXPOSE 8080
# distroless has no shell or curl: the binary checks itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/keel", "healthcheck"]
ENTRYPOINT ["/keel"]
CMD ["serve"]
