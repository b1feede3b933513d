// workloads_cxx.cc — a C++ new/delete workload for bench/b-05-workloads.sh: std::map of
// std::string keys to small vectors, filled, looked up, erased and refilled (node allocations,
// string buffers past the small-string size, vector growth).  usage: workloads_cxx SCALE
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct Node {
    std::string name;
    std::vector<int> v;
    Node(std::string n, int k) : name(std::move(n)), v(static_cast<size_t>(k), k) {}
};

int main(int argc, char **argv)
{
    long scale = argc > 1 ? std::atol(argv[1]) : 1;
    uint64_t x = 99, sum = 0;
    auto rnd = [&x]() { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
    std::map<std::string, std::unique_ptr<Node>> m;
    for (long it = 0; it < scale * 40000; it++) {
        std::string key = "key-with-a-long-enough-prefix-" + std::to_string(rnd() % 5000);
        auto f = m.find(key);
        if (f == m.end()) {
            m.emplace(key, std::make_unique<Node>(key + "/value", static_cast<int>(rnd() % 40)));
        } else if (rnd() % 3 == 0) {
            m.erase(f);
        } else {
            f->second->v.push_back(static_cast<int>(it));
            sum += f->second->v.size();
        }
    }
    std::printf("%llu %zu\n", static_cast<unsigned long long>(sum), m.size());
    return 0;
}
