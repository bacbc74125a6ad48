// hnswlib (header-only, Debian's libhnswlib-dev) compiled natively with
// -O3 -march=native, as a stronger baseline than Debian's generic-x86-64
// Python module. Same parameters and JSON lines as cmd/hnswbench.
// Build: g++ -O3 -march=native -std=c++17 -pthread bench.cpp -o /tmp/hnswlib-native
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

static std::vector<int32_t> readVecs(const std::string &path, int &dim, size_t &n, size_t limit) {
    std::string cmd = "gzip -dcf '" + path + "'";
    FILE *f = popen(cmd.c_str(), "r");
    if (!f) { perror("popen"); exit(1); }
    std::vector<int32_t> out;
    dim = 0;
    n = 0;
    int32_t d;
    while ((limit == 0 || n < limit) && fread(&d, 4, 1, f) == 1) {
        if (dim == 0) dim = d;
        if (d != dim) { fprintf(stderr, "bad dim in %s\n", path.c_str()); exit(1); }
        size_t off = out.size();
        out.resize(off + d);
        if (fread(out.data() + off, 4, d, f) != (size_t)d) { fprintf(stderr, "short read %s\n", path.c_str()); exit(1); }
        n++;
    }
    pclose(f);
    return out;
}

static double cpuSeconds(clockid_t c) {
    timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wallSeconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
    std::string data = "/work/shared/data/fashion-mnist-784-euclidean";
    int M = 16, efc = 200, threads = 2, k = 10;
    size_t limitQ = 0;
    std::string efs = "10,20,40,80,120,200,400";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "-data") data = v;
        else if (a == "-m") M = atoi(v.c_str());
        else if (a == "-efc") efc = atoi(v.c_str());
        else if (a == "-threads") threads = atoi(v.c_str());
        else if (a == "-ef") efs = v;
        else if (a == "-k") k = atoi(v.c_str());
        else if (a == "-queries") limitQ = atol(v.c_str());
        else { fprintf(stderr, "unknown flag %s\n", a.c_str()); return 2; }
    }
    int dim, qdim, gdim;
    size_t n, nq, ng;
    std::vector<int32_t> base = readVecs(data + "/base.fvecs.gz", dim, n, 0);
    std::vector<int32_t> queries = readVecs(data + "/query.fvecs.gz", qdim, nq, limitQ);
    std::vector<int32_t> truth = readVecs(data + "/groundtruth.ivecs.gz", gdim, ng, nq);
    const float *bv = reinterpret_cast<const float *>(base.data());
    const float *qv = reinterpret_cast<const float *>(queries.data());
    fprintf(stderr, "loaded %zu base vectors of dim %d, %zu queries\n", n, dim, nq);

    hnswlib::L2Space space(dim);
    hnswlib::HierarchicalNSW<float> alg(&space, n, M, efc, 100);
    double w0 = wallSeconds(), c0 = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    alg.addPoint(bv, 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
        ts.emplace_back([&] {
            for (size_t i; (i = next++) < n;) alg.addPoint(bv + i * dim, i);
        });
    }
    for (auto &t : ts) t.join();
    double build = wallSeconds() - w0, buildCPU = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    size_t element = 4 + 2 * M * 4 + 4 * dim + 8;
    printf("{\"engine\":\"hnswlib-native\",\"n\":%zu,\"dim\":%d,\"m\":%d,\"ef_construct\":%d,\"threads\":%d,"
           "\"build_seconds\":%.3f,\"build_cpu_seconds\":%.3f,\"bytes_per_point\":%zu}\n",
           n, dim, M, efc, threads, build, buildCPU, element);
    fflush(stdout);

    std::stringstream ss(efs);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        int ef = atoi(tok.c_str());
        alg.setEf(ef);
        std::vector<std::vector<size_t>> got(nq);
        double sw = wallSeconds(), sc = cpuSeconds(CLOCK_THREAD_CPUTIME_ID);
        for (size_t q = 0; q < nq; q++) {
            auto pq = alg.searchKnn(qv + q * dim, k);
            while (!pq.empty()) { got[q].push_back(pq.top().second); pq.pop(); }
        }
        double wall = wallSeconds() - sw, cpu = cpuSeconds(CLOCK_THREAD_CPUTIME_ID) - sc;
        size_t hit = 0;
        for (size_t q = 0; q < nq; q++) {
            std::set<int32_t> want(truth.begin() + q * gdim, truth.begin() + q * gdim + k);
            for (size_t id : got[q]) hit += want.count((int32_t)id);
        }
        printf("{\"ef\":%d,\"recall\":%.5f,\"qps\":%.1f,\"cpu_qps\":%.1f,\"queries\":%zu}\n", ef,
               (double)hit / (nq * k), nq / wall, nq / cpu, nq);
        fflush(stdout);
    }
    return 0;
}
