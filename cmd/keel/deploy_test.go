package main

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// composeFile is the part of deploy/compose.yaml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image string
		Build struct {
			Context    string
			Dockerfile string
		}
		Deploy struct {
			Replicas int
		}
		Environment map[string]string
		Healthcheck struct {
			Test []string
		}
		DependsOn map[string]struct {
			Condition string
		} `yaml:"depends_on"`
		Ports    []string
		Volumes  []string
		Networks []string
	}
	Networks map[string]struct {
		Internal bool
		Ipam     struct {
			Config []struct {
				Subnet string
			}
		}
	}
}

// TestCompose: docker cannot run on the build machines, so check the
// cluster's promises in deploy/compose.yaml: PostgreSQL 15 with a health
// check; three keel replicas built from the repository's Dockerfile, on that
// PostgreSQL, started once it is healthy, checked with `keel healthcheck`,
// with JWT_SECRET from the environment (never written in the file) and the
// load balancer's network as TRUSTED_PROXIES; Caddy on :8080 in front of them,
// its Caddyfile proxying to every replica.
func TestCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}

	pg, ok := c.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if !strings.HasPrefix(pg.Image, "postgres:15") {
		t.Errorf("postgres image %q, want postgres:15", pg.Image)
	}
	if len(pg.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres health check %q does not run pg_isready", pg.Healthcheck.Test)
	}
	if !strings.HasPrefix(pg.Environment["POSTGRES_PASSWORD"], "${POSTGRES_PASSWORD:?") {
		t.Errorf("POSTGRES_PASSWORD is %q, want ${POSTGRES_PASSWORD:?…} (no password in the file)", pg.Environment["POSTGRES_PASSWORD"])
	}

	k, ok := c.Services["keel"]
	if !ok {
		t.Fatal("no keel service")
	}
	if k.Deploy.Replicas != 3 {
		t.Errorf("keel replicas %d, want 3", k.Deploy.Replicas)
	}
	if k.Build.Context != ".." || k.Build.Dockerfile != "Dockerfile" {
		t.Errorf("keel is built from %q/%q, want the repository's Dockerfile (../Dockerfile)", k.Build.Context, k.Build.Dockerfile)
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil {
		t.Error(err)
	}
	if u := k.Environment["DATABASE_URL"]; !strings.HasPrefix(u, "postgres://") || !strings.Contains(u, "@postgres:5432/") {
		t.Errorf("DATABASE_URL %q is not the postgres service", u)
	}
	for _, name := range []string{"JWT_SECRET", "KEYS_KEK"} {
		secret := k.Environment[name]
		if !strings.HasPrefix(secret, "${"+name+":?") || !strings.HasSuffix(secret, "}") {
			t.Errorf("%s is %q: take it from the environment as ${%s:?…} (compose then refuses to start without one), never write it here", name, secret, name)
		}
	}
	// The replicas' tokens name API_URL as their issuer, where the services
	// behind keel find its keys: the URL they reach keel at (the lb), taken
	// from deploy/.env, never a replica's own default.
	if u := k.Environment["API_URL"]; !strings.HasPrefix(u, "${API_URL:-http") {
		t.Errorf("API_URL is %q, want ${API_URL:-<the lb's URL>}", u)
	}
	if got := strings.Join(k.Healthcheck.Test, " "); got != "CMD /keel healthcheck" {
		t.Errorf("keel health check %q, want CMD /keel healthcheck", got)
	}
	if d := k.DependsOn["postgres"].Condition; d != "service_healthy" {
		t.Errorf("keel depends on postgres with condition %q, want service_healthy", d)
	}
	if !slices.Contains(k.Networks, "db") || !slices.Contains(pg.Networks, "db") || !c.Networks["db"].Internal {
		t.Errorf("keel and postgres should share the internal db network: keel %v, postgres %v", k.Networks, pg.Networks)
	}

	lb, ok := c.Services["lb"]
	if !ok {
		t.Fatal("no lb service")
	}
	if !strings.HasPrefix(lb.Image, "caddy:") {
		t.Errorf("lb image %q, want caddy", lb.Image)
	}
	if !slices.Contains(lb.Ports, "8080:8080") {
		t.Errorf("lb ports %v, want 8080:8080", lb.Ports)
	}
	if d := lb.DependsOn["keel"].Condition; d != "service_healthy" {
		t.Errorf("lb depends on keel with condition %q, want service_healthy", d)
	}
	if slices.Contains(lb.Networks, "db") || len(pg.Ports) > 0 {
		t.Errorf("the database is reachable from outside: lb networks %v, postgres ports %v", lb.Networks, pg.Ports)
	}
	// The rate limit sees real clients only if keel trusts exactly the
	// balancer's network.
	edge := c.Networks["edge"].Ipam.Config
	if len(edge) != 1 || !slices.Contains(lb.Networks, "edge") || !slices.Contains(k.Networks, "edge") {
		t.Fatalf("lb and keel should share the edge network with one subnet: %+v", c.Networks["edge"])
	}
	if _, _, err := net.ParseCIDR(edge[0].Subnet); err != nil {
		t.Errorf("edge subnet: %v", err)
	}
	if tp := k.Environment["TRUSTED_PROXIES"]; tp != edge[0].Subnet {
		t.Errorf("TRUSTED_PROXIES %q, want the lb's network %q", tp, edge[0].Subnet)
	}

	// The Caddyfile mounted into lb proxies :8080 to every keel replica.
	var caddyfile string
	for _, v := range lb.Volumes {
		if host, ctr, _ := strings.Cut(v, ":"); strings.HasPrefix(ctr, "/etc/caddy/Caddyfile") {
			caddyfile = host
		}
	}
	if caddyfile == "" {
		t.Fatalf("lb mounts no /etc/caddy/Caddyfile: %v", lb.Volumes)
	}
	cf, err := os.ReadFile("../../deploy/" + strings.TrimPrefix(caddyfile, "./"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":8080 {", "reverse_proxy", "dynamic a keel 8080", "lb_policy"} {
		if !strings.Contains(string(cf), want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
	// WebSockets: Caddy's reverse_proxy upgrades them unless told not to.
	for _, bad := range []string{"header_up -Upgrade", "header_up -Connection"} {
		if strings.Contains(string(cf), bad) {
			t.Errorf("Caddyfile holds %q, which breaks WebSockets", bad)
		}
	}

	// No secret in the repository: .env is ignored, its example is empty.
	ex, err := os.ReadFile("../../deploy/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ex), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") && v != "" {
			t.Errorf("deploy/.env.example sets %s", k)
		}
	}
}

// TestDockerfile: docker cannot run on the build machines, so check the
// image's promises in its recipe: a static binary, distroless, non-root, a
// data volume and a health check through `keel healthcheck`.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "FROM gcr.io/distroless/static", "USER nonroot", "VOLUME", `HEALTHCHECK`, `"healthcheck"`, "AS build"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
