package configs

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of deploy/compose.yaml the configs depend on.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]any    `yaml:"depends_on"`
		// A list of names, or a map of name to settings.
		Networks yaml.Node `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

// composeVar is compose's interpolation: ${NAME}, ${NAME:-default} and
// ${NAME:?error}; $$ is a literal dollar.
var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

func interpolate(s string, env map[string]string) (string, error) {
	var err error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := composeVar.FindStringSubmatch(m)
		v, ok := env[g[1]]
		switch {
		case ok && v != "":
			return v
		case g[2] == ":-":
			return g[3]
		case g[2] == ":?":
			err = fmt.Errorf("%s: %s", g[1], g[3])
		}
		return v
	})
	return out, err
}

const deployDir = "../deploy"

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml is not valid YAML for compose: %v", err)
	}
	return c
}

// What the operator exports before `docker compose up` (see compose.yaml).
var composeHostEnv = map[string]string{
	"KEYLINE_ROOT_KEY":       "kl_root_compose_0123456789abcdef",
	"KEYLINE_CLUSTER_SECRET": "compose-secret-shared-by-the-nodes",
}

// Every keyline node of deploy/compose.yaml starts: its mounted config
// loads with exactly the environment compose gives the node, and the nodes
// form one cluster on the services compose runs.
func TestComposeConfigsLoad(t *testing.T) {
	c := loadCompose(t)
	subnets := c.Networks["keyline"].IPAM.Config
	if len(subnets) != 1 {
		t.Fatalf("network keyline: subnets %+v, want one", subnets)
	}
	_, subnet, err := net.ParseCIDR(subnets[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}

	var nodes, addrs, hostPorts []string
	mounted := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		svc := c.Services[name]
		var config string
		for _, v := range svc.Volumes {
			if src, ok := strings.CutSuffix(v, ":/etc/keyline/config.json:ro"); ok {
				config = filepath.Clean(filepath.Join(deployDir, src))
			}
		}
		if config == "" {
			continue
		}
		mounted[filepath.Base(config)] = true
		nodes = append(nodes, name)
		if image, err := interpolate(svc.Image, composeHostEnv); err != nil || image != "keyline:dev" {
			t.Errorf("%s: image %q (%v), want keyline:dev (what make image builds)", name, image, err)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if env[k], err = interpolate(v, composeHostEnv); err != nil {
				t.Fatalf("%s: %s: %v", name, k, err)
			}
		}
		cfg, err := Load(config, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}

		// The network address the node advertises is the one compose gives it.
		var nets map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		}
		if err := svc.Networks.Decode(&nets); err != nil {
			t.Fatalf("%s: networks: %v", name, err)
		}
		ip := net.ParseIP(nets["keyline"].IPv4)
		cl := cfg.Cluster
		switch {
		case cl == nil:
			t.Fatalf("%s: no cluster section", name)
		case cl.NodeID != name:
			t.Errorf("%s: cluster.nodeId %q", name, cl.NodeID)
		case ip == nil || !subnet.Contains(ip) || cl.AdvertiseAddr != ip.String():
			t.Errorf("%s: advertiseAddr %q, compose address %q (subnet %s)", name, cl.AdvertiseAddr, nets["keyline"].IPv4, subnet)
		case cl.Secret != composeHostEnv["KEYLINE_CLUSTER_SECRET"]:
			t.Errorf("%s: cluster.secret %q", name, cl.Secret)
		case cl.Discovery.Redis == nil || cfg.Redis == nil || cl.Discovery.Redis.URL != cfg.Redis.URL:
			t.Errorf("%s: discovery %+v, redis %+v; want Redis discovery on redis.url", name, cl.Discovery, cfg.Redis)
		}
		addrs = append(addrs, cl.AdvertiseAddr)
		if cfg.Bootstrap == nil || cfg.Bootstrap.RootKey != composeHostEnv["KEYLINE_ROOT_KEY"] {
			t.Errorf("%s: bootstrap %+v", name, cfg.Bootstrap)
		}
		if cfg.HTTPPort != DefaultHTTPPort || cfg.HTTPHost != "" {
			t.Errorf("%s: listens on %q:%d, want every interface, port %d", name, cfg.HTTPHost, cfg.HTTPPort, DefaultHTTPPort)
		}
		if len(svc.Ports) != 1 || !strings.HasSuffix(svc.Ports[0], ":7070") {
			t.Errorf("%s: ports %v, want one host port onto 7070", name, svc.Ports)
		} else {
			hostPorts = append(hostPorts, strings.TrimSuffix(svc.Ports[0], ":7070"))
		}

		// Every server a node dials is a service of the same file, and the
		// node waits for it to be healthy.
		if cfg.Database.PrimaryKind() != KindPostgres || cfg.ClickHouse == nil {
			t.Fatalf("%s: database %q, clickhouse %+v", name, cfg.Database.Primary, cfg.ClickHouse)
		}
		for _, raw := range []string{cfg.Database.Primary, cfg.Redis.URL, cfg.ClickHouse.URL} {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, ok := c.Services[u.Hostname()]; !ok {
				t.Errorf("%s: %s names host %q, which is not a compose service", name, raw, u.Hostname())
			}
			if _, ok := svc.DependsOn[u.Hostname()]; !ok {
				t.Errorf("%s: does not depend on %s", name, u.Hostname())
			}
		}
	}
	if want := []string{"keyline-1", "keyline-2", "keyline-3"}; !slices.Equal(nodes, want) {
		t.Fatalf("keyline nodes %v, want %v", nodes, want)
	}
	for _, list := range [][]string{addrs, hostPorts} {
		if s := slices.Compact(slices.Sorted(slices.Values(list))); len(s) != len(nodes) {
			t.Errorf("not distinct per node: %v", list)
		}
	}

	// Without the operator's secrets compose refuses to start the nodes
	// rather than handing keyline an empty root key.
	for _, missing := range slices.Sorted(maps.Keys(composeHostEnv)) {
		env := map[string]string{}
		for k, v := range composeHostEnv {
			if k != missing {
				env[k] = v
			}
		}
		if _, err := interpolate(c.Services["keyline-1"].Environment[missing], env); err == nil ||
			!strings.HasPrefix(err.Error(), missing+": set "+missing) {
			t.Errorf("compose without %s: %v, want an error naming it", missing, err)
		}
	}

	// Every config under deploy/ is used: mounted by compose, or baked into
	// the image (container.json, see the Makefile's image target).
	files, _ := filepath.Glob(filepath.Join(deployDir, "*.json"))
	for _, f := range files {
		if base := filepath.Base(f); !mounted[base] && base != "container.json" {
			t.Errorf("deploy/%s is neither mounted by compose.yaml nor the image's config", base)
		}
	}
}

// deploy/container.json is the image's /etc/keyline/config.json: `docker
// run` with no arguments serves on every interface with SQLite in the data
// volume.
func TestContainerConfigLoads(t *testing.T) {
	cfg, err := Load(filepath.Join(deployDir, "container.json"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPHost != "" || cfg.HTTPPort != DefaultHTTPPort || cfg.Database.Primary != "sqlite:/var/lib/keyline/keyline.db" ||
		cfg.Cluster != nil || cfg.Redis != nil || cfg.Bootstrap != nil {
		t.Fatalf("container.json = %+v", cfg)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), `cp deploy/container.json "$$ctx/config.json"`) {
		t.Fatal("the Makefile's image target no longer puts deploy/container.json into the image")
	}
}
