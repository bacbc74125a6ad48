// Package vecmath holds the vector distance kernels every index and scorer of
// Shoal uses: dot product, squared Euclidean distance and Manhattan distance
// over float32 slices, plus the mapping between Qdrant's reported scores and
// the "lower is better" distances the indexes order by.
//
// On amd64 CPUs with AVX2 and FMA the kernels run assembly generated with
// avo (see the gen directory, a separate module), in AVX-512F variants when
// the CPU has AVX-512F; elsewhere, under the noasm build tag, or on CPUs
// without those extensions they run a pure-Go loop with eight independent
// accumulators. The choice is made once at start-up from
// golang.org/x/sys/cpu, and Dist and Kernel always use the same kernel, so
// they agree bit for bit.
package vecmath
