package grpcapi

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"testing"

	_ "github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// protoElements lists every message field, enum value ("enum " prefix) and
// RPC ("rpc " prefix) of the qdrant protos linked into this binary, sorted.
func protoElements() []string {
	var out []string
	enum := func(ed protoreflect.EnumDescriptor) {
		for i := 0; i < ed.Values().Len(); i++ {
			out = append(out, "enum "+string(ed.FullName())+"."+string(ed.Values().Get(i).Name()))
		}
	}
	var walk func(protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if md.IsMapEntry() {
			return
		}
		for i := 0; i < md.Fields().Len(); i++ {
			out = append(out, string(md.Fields().Get(i).FullName()))
		}
		for i := 0; i < md.Messages().Len(); i++ {
			walk(md.Messages().Get(i))
		}
		for i := 0; i < md.Enums().Len(); i++ {
			enum(md.Enums().Get(i))
		}
	}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "qdrant" {
			return true
		}
		for i := 0; i < fd.Messages().Len(); i++ {
			walk(fd.Messages().Get(i))
		}
		for i := 0; i < fd.Enums().Len(); i++ {
			enum(fd.Enums().Get(i))
		}
		for i := 0; i < fd.Services().Len(); i++ {
			s := fd.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				out = append(out, "rpc "+string(s.Methods().Get(j).FullName()))
			}
		}
		return true
	})
	sort.Strings(out)
	return out
}

// protoAdditions decides every element the served protos (go-client
// v1.19.x, Qdrant API 1.19) added to those of go-client v1.17.1: served
// (how), or refused (with which error). TestProtoAdditionsDecided fails on
// an addition missing here, so a later upgrade of go-client cannot pass a
// new option through unnoticed (the unknown-field check no longer sees it
// once the protos know it).
var protoAdditions = map[string]string{
	"enum qdrant.Datatype.Turbo4":                         "served as datatype turbo4 (4-bit TurboQuant store, index/turbo4.go); the service refuses it with Manhattan distance or for multi-vectors, for both adapters",
	"enum qdrant.Memory.Cached":                           "see the memory fields",
	"enum qdrant.Memory.Cold":                             "see the memory fields",
	"enum qdrant.Memory.MemoryUnknown":                    "refused: unknown memory placement 0",
	"enum qdrant.Memory.Pinned":                           "see the memory fields",
	"enum qdrant.TurboQuantBitSize.Bits1":                 "see TurboQuantization",
	"enum qdrant.TurboQuantBitSize.Bits1_5":               "see TurboQuantization",
	"enum qdrant.TurboQuantBitSize.Bits2":                 "see TurboQuantization",
	"enum qdrant.TurboQuantBitSize.Bits4":                 "see TurboQuantization",
	"qdrant.BinaryQuantization.memory":                    "kept as quantization_config.<kind>.memory, reported back",
	"qdrant.BoolIndexParams.memory":                       "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.CollectionClusterInfoResponse.time":           "set",
	"qdrant.CollectionParams.payload":                     "not reported: the payload placement is reported as on_disk_payload",
	"qdrant.CollectionParamsDiff.payload":                 "memory translated into on_disk_payload (cold: true, cached: false, pinned refused)",
	"qdrant.Condition.slice":                              "served: filter.SliceOf (SipHash-2-4 of the id's bytes), total 0 refused",
	"qdrant.CreateCollection.payload":                     "memory translated into on_disk_payload (cold: true, cached: false, pinned refused)",
	"qdrant.CreateShardKeyResponse.time":                  "never sent: shard keys are refused (no custom sharding)",
	"qdrant.CreateVectorNameRequest.collection_name":      "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.dense_config":         "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.ordering":             "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.sparse_config":        "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.timeout":              "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.vector_name":          "served: CreateVectorName",
	"qdrant.CreateVectorNameRequest.wait":                 "served: CreateVectorName",
	"qdrant.DatetimeIndexParams.memory":                   "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.DeleteShardKeyResponse.time":                  "never sent: shard keys are refused (no custom sharding)",
	"qdrant.DeleteVectorNameRequest.collection_name":      "served: DeleteVectorName",
	"qdrant.DeleteVectorNameRequest.ordering":             "served: DeleteVectorName",
	"qdrant.DeleteVectorNameRequest.timeout":              "served: DeleteVectorName",
	"qdrant.DeleteVectorNameRequest.vector_name":          "served: DeleteVectorName",
	"qdrant.DeleteVectorNameRequest.wait":                 "served: DeleteVectorName",
	"qdrant.DenseVectorCreationConfig.datatype":           "served: CreateVectorName",
	"qdrant.DenseVectorCreationConfig.distance":           "served: CreateVectorName",
	"qdrant.DenseVectorCreationConfig.multivector_config": "served: CreateVectorName",
	"qdrant.DenseVectorCreationConfig.size":               "served: CreateVectorName",
	"qdrant.FloatIndexParams.memory":                      "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.GeoIndexParams.memory":                        "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.HnswConfigDiff.memory":                        "translated into on_disk (cold: true, cached and pinned: false)",
	"qdrant.IdfParams.corpus":                             "refused: idf with a corpus filter is not supported",
	"qdrant.IntegerIndexParams.memory":                    "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.KeywordIndexParams.memory":                    "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.KeywordIndexParams.prefix":                    "kept in the index params as prefix: true, reported back",
	"qdrant.Match.prefix":                                 "served: match prefix",
	"qdrant.PayloadStorageParams.memory":                  "see its users",
	"qdrant.ProductQuantization.memory":                   "kept as quantization_config.<kind>.memory, reported back",
	"qdrant.QuantizationConfig.turboquant":                "refused by api.ParseQuantization as quantization turbo",
	"qdrant.QuantizationConfigDiff.turboquant":            "refused by api.ParseQuantization as quantization turbo",
	"qdrant.ScalarQuantization.memory":                    "kept as quantization_config.<kind>.memory, reported back",
	"qdrant.SearchParams.idf":                             "served when global (no corpus)",
	"qdrant.SliceCondition.index":                         "see Condition.slice",
	"qdrant.SliceCondition.total":                         "see Condition.slice",
	"qdrant.SparseIndexConfig.memory":                     "translated into on_disk (cold and cached: true, pinned: false)",
	"qdrant.SparseVectorCreationConfig.datatype":          "served: CreateVectorName",
	"qdrant.SparseVectorCreationConfig.modifier":          "served: CreateVectorName",
	"qdrant.StemmingAlgorithm.disabled":                   "served as the stemmer of type none",
	"qdrant.StrictModeConfig.max_resident_memory_percent": "refused by the service for both adapters (deprecated in Qdrant 1.19)",
	"qdrant.StrictModeConfig.search_max_batchsize":        "served: enforced on batch searches",
	"qdrant.TextIndexParams.memory":                       "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.TurboQuantization.always_ram":                 "see QuantizationConfig.turboquant",
	"qdrant.TurboQuantization.bits":                       "see QuantizationConfig.turboquant",
	"qdrant.TurboQuantization.memory":                     "see QuantizationConfig.turboquant",
	"qdrant.UpdateCollectionClusterSetupResponse.time":    "set",
	"qdrant.UpdateQueueInfo.deferred_points":              "always 0: Shoal never hides written points",
	"qdrant.UuidIndexParams.memory":                       "kept in the index params as memory: cold, cached or pinned (REST form), reported back",
	"qdrant.VectorParams.memory":                          "translated into on_disk (cold: true, cached: false, pinned refused as in Qdrant)",
	"qdrant.VectorParamsDiff.memory":                      "translated into on_disk (cold: true, cached: false, pinned refused as in Qdrant)",
	"rpc qdrant.Points.CreateVectorName":                  "served",
	"rpc qdrant.Points.DeleteVectorName":                  "served",
}

func TestProtoAdditionsDecided(t *testing.T) {
	f, err := os.Open("testdata/proto-v1.17.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			old[l] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	now := map[string]bool{}
	for _, e := range protoElements() {
		now[e] = true
		if !old[e] && protoAdditions[e] == "" {
			t.Errorf("%s is new since go-client v1.17.1 and not decided in protoAdditions", e)
		}
	}
	for e := range old {
		if !now[e] {
			t.Errorf("%s of go-client v1.17.1 is gone from the served protos: older clients may still send it", e)
		}
	}
	for e := range protoAdditions {
		if !now[e] || old[e] {
			t.Errorf("protoAdditions names %s, which is not an addition to the served protos", e)
		}
	}
}
