package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"go.yaml.in/yaml/v3"
)

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
}

// TestDeploymentFilesParse parses every YAML, JSON and HCL file of
// deploy/, docker/ and config/, and checks what each deployment promises:
// the compose files' nodes, join lists and zones, the Kubernetes objects
// and probes, the ECS task and service, and the Terraform modules'
// variables and outputs.
func TestDeploymentFilesParse(t *testing.T) {
	root := repoRoot(t)
	var files []string
	for _, dir := range []string{"deploy", "docker", "config"} {
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
	}
	parser := hclparse.NewParser()
	seen := map[string]bool{}
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			if len(yamlDocs(t, p)) == 0 {
				t.Errorf("%s: no YAML document", rel)
			}
		case ".json":
			raw, _ := os.ReadFile(p)
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case ".tf":
			if _, diags := parser.ParseHCLFile(p); diags.HasErrors() {
				t.Errorf("%s: %s", rel, diags.Error())
			}
		default:
			continue
		}
		seen[filepath.ToSlash(rel)] = true
	}
	for _, want := range []string{"docker/compose.yaml", "docker/compose-zones.yaml", "deploy/kubernetes/shoal.yaml",
		"deploy/aws/ecs/task-definition.json", "deploy/aws/ecs/service.json", "deploy/aws/terraform/main.tf",
		"deploy/aws/terraform/modules/shoal-region/main.tf", "deploy/grafana/dashboards/shoal.json",
		"deploy/grafana/provisioning/datasources/prometheus.yml", "deploy/grafana/provisioning/dashboards/shoal.yml",
		"deploy/prometheus/alerts.yml", "config/config.yaml"} {
		if !seen[want] {
			t.Errorf("%s missing or not parsed", want)
		}
	}

	t.Run("compose-zones", func(t *testing.T) {
		doc := yamlDocs(t, filepath.Join(root, "docker", "compose-zones.yaml"))[0]
		services := doc["services"].(map[string]any)
		zones := map[string]int{}
		for name, s := range services {
			if !strings.HasPrefix(name, "node") {
				continue
			}
			env := s.(map[string]any)["environment"].(map[string]any)
			if env["SHOAL__CLUSTER__BOOTSTRAP_EXPECT"] != "6" || strings.Count(env["SHOAL__CLUSTER__JOIN"].(string), ":6335") != 6 {
				t.Errorf("%s: %v", name, env)
			}
			zones[env["SHOAL__CLUSTER__ZONE"].(string)]++
		}
		if len(zones) != 3 || zones["zone-a"] != 2 || zones["zone-b"] != 2 || zones["zone-c"] != 2 {
			t.Errorf("zones %v", zones)
		}
	})

	t.Run("kubernetes", func(t *testing.T) {
		kinds := map[string]map[string]any{}
		for _, d := range yamlDocs(t, filepath.Join(root, "deploy", "kubernetes", "shoal.yaml")) {
			kinds[d["kind"].(string)+"/"+d["metadata"].(map[string]any)["name"].(string)] = d
		}
		for _, k := range []string{"Service/shoal-peers", "Service/shoal", "PodDisruptionBudget/shoal", "StatefulSet/shoal"} {
			if kinds[k] == nil {
				t.Fatalf("no %s in %v", k, kinds)
			}
		}
		peers := kinds["Service/shoal-peers"]["spec"].(map[string]any)
		if peers["clusterIP"] != "None" || peers["publishNotReadyAddresses"] != true {
			t.Errorf("headless seed service: %v", peers)
		}
		sts := kinds["StatefulSet/shoal"]["spec"].(map[string]any)
		c := sts["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		if c["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"] != "/readyz" || c["resources"] == nil || sts["volumeClaimTemplates"] == nil {
			t.Errorf("container %v", c)
		}
		env := map[string]any{}
		for _, e := range c["env"].([]any) {
			m := e.(map[string]any)
			env[m["name"].(string)] = m
		}
		zone, _ := json.Marshal(env["SHOAL__CLUSTER__ZONE"])
		if !strings.Contains(string(zone), "topology.kubernetes.io/zone") || !strings.Contains(mustJSON(env["SHOAL__CLUSTER__JOIN"]), "shoal-peers:6335") {
			t.Errorf("zone %s, join %v", zone, env["SHOAL__CLUSTER__JOIN"])
		}
	})

	t.Run("ecs", func(t *testing.T) {
		var td struct {
			ContainerDefinitions []struct {
				Environment []struct{ Name, Value string }
				MountPoints []struct{ SourceVolume, ContainerPath string }
			}
			Volumes []struct {
				Name               string
				ConfiguredAtLaunch bool
			}
		}
		var svc struct {
			DesiredCount         int
			ServiceRegistries    []struct{ RegistryArn string }
			VolumeConfigurations []struct {
				Name             string
				ManagedEBSVolume map[string]any
			}
		}
		for p, v := range map[string]any{"task-definition.json": &td, "service.json": &svc} {
			raw, _ := os.ReadFile(filepath.Join(root, "deploy", "aws", "ecs", p))
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{}
		for _, e := range td.ContainerDefinitions[0].Environment {
			env[e.Name] = e.Value
		}
		if env["QDRANT__STORAGE__SNAPSHOTS_CONFIG__SNAPSHOTS_STORAGE"] != "s3" || !strings.Contains(env["SHOAL__CLUSTER__JOIN"], "shoal.internal") ||
			!td.Volumes[0].ConfiguredAtLaunch || td.ContainerDefinitions[0].MountPoints[0].ContainerPath != "/qdrant/storage" {
			t.Errorf("task definition: %+v", td)
		}
		if svc.DesiredCount != 3 || len(svc.ServiceRegistries) != 1 || svc.VolumeConfigurations[0].ManagedEBSVolume["volumeType"] != "gp3" {
			t.Errorf("service: %+v", svc)
		}
	})

	t.Run("terraform", func(t *testing.T) {
		body := func(p string) *hclsyntax.Body {
			f, diags := parser.ParseHCLFile(filepath.Join(root, "deploy", "aws", "terraform", p))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			return f.Body.(*hclsyntax.Body)
		}
		blocks := func(b *hclsyntax.Body, typ string) map[string]*hclsyntax.Block {
			out := map[string]*hclsyntax.Block{}
			for _, bl := range b.Blocks {
				if bl.Type == typ {
					out[strings.Join(bl.Labels, ".")] = bl
				}
			}
			return out
		}
		root, mod := body("main.tf"), body("modules/shoal-region/main.tf")
		modules := blocks(root, "module")
		if len(modules) != 3 {
			t.Fatalf("modules %v", len(modules))
		}
		vars := blocks(mod, "variable")
		outputs := blocks(mod, "output")
		for name, m := range modules {
			attrs := m.Body.Attributes
			for a := range attrs {
				if a != "source" && a != "providers" && vars[a] == nil {
					t.Errorf("module %s sets %s, which modules/shoal-region does not declare", name, a)
				}
			}
			for v, blk := range vars {
				if _, ok := blk.Body.Attributes["default"]; !ok && attrs[v] == nil {
					t.Errorf("module %s leaves required variable %s unset", name, v)
				}
			}
		}
		for _, want := range []string{"hosted_zone_id", "nodes_dns"} {
			if outputs[want] == nil {
				t.Errorf("no output %s", want)
			}
		}
		res := blocks(mod, "resource")
		for _, want := range []string{"aws_ecs_service.shoal", "aws_ecs_task_definition.shoal", "aws_service_discovery_service.nodes", "aws_s3_bucket.snapshots"} {
			if res[want] == nil {
				t.Errorf("no resource %s", want)
			}
		}
		regions := 0
		for _, bl := range root.Blocks {
			if bl.Type == "provider" {
				regions++
			}
		}
		if regions != 3 {
			t.Errorf("%d providers, want three regions", regions)
		}
		// Every module output the root reads exists.
		for _, bl := range root.Blocks {
			for _, attr := range bl.Body.Attributes {
				for _, tr := range attr.Expr.Variables() {
					if tr.RootName() == "module" && len(tr) >= 3 {
						if a, ok := tr[2].(hcl.TraverseAttr); ok && outputs[a.Name] == nil {
							t.Errorf("%s reads module output %s, which does not exist", bl.Type, a.Name)
						}
					}
				}
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
