#pragma once
// A small persistent thread pool for the CPU backend. run(n, body) calls body(i) for i in [0, n):
// i = 0 on the calling thread, the others on pool workers, and returns when all are done. Work is
// split inside body (an atomic counter over work items), so the pool only starts and joins.
// Workers spin briefly after a job (back-to-back decode calls are a few microseconds apart), then
// sleep on a condition variable. Calls from two user threads are serialized; a call from inside a
// running job (nested) runs all of its indices inline.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define KVSHARE_CPU_PAUSE() _mm_pause()
#else
#define KVSHARE_CPU_PAUSE() std::this_thread::yield()
#endif

namespace kvshare::backend::cpu_detail {

class thread_pool {
public:
    // Threads to use for a request: 0 means all hardware threads.
    static int resolve(int requested) {
        if (requested > 0) return requested;
        const unsigned hw = std::thread::hardware_concurrency();
        return hw == 0 ? 1 : static_cast<int>(hw);
    }

    static thread_pool& global() {
        static thread_pool pool;
        return pool;
    }

    template <class Body>
    void run(int n, Body&& body) {
        n = std::min(n, 0xffff);
        if (n <= 1 || inside_job()) {
            for (int i = 0; i < n; ++i) body(i);
            return;
        }
        std::lock_guard<std::mutex> serial(run_mutex_);
        ensure_workers(n - 1);
        job_ = [](void* ctx, int i) { (*static_cast<std::remove_reference_t<Body>*>(ctx))(i); };
        ctx_ = &body;
        remaining_.store(n - 1, std::memory_order_relaxed);
        {
            // One word holds the job generation and its thread count, so a worker reads both at once.
            std::lock_guard<std::mutex> lock(mutex_);
            const std::uint64_t generation = (state_.load(std::memory_order_relaxed) >> 16) + 1;
            state_.store(generation << 16 | static_cast<std::uint64_t>(n), std::memory_order_release);
        }
        wake_.notify_all();
        inside_job() = true;
        body(0);
        inside_job() = false;
        for (int spins = 0; remaining_.load(std::memory_order_acquire) != 0; ++spins) {
            if (spins < spin_limit) {
                KVSHARE_CPU_PAUSE();
            } else {
                std::unique_lock<std::mutex> lock(mutex_);
                done_.wait(lock, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
            }
        }
    }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            state_.store(((state_.load(std::memory_order_relaxed) >> 16) + 1) << 16, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

private:
    static constexpr int spin_limit = 4000;   // pause instructions (~0.1 ms) before sleeping

    thread_pool() = default;

    static bool& inside_job() {
        thread_local bool inside = false;
        return inside;
    }

    void ensure_workers(int count) {
        while (static_cast<int>(workers_.size()) < count) {
            // The worker starts waiting for the job after `seen` (the state before this run publishes its
            // job), however late the thread gets scheduled.
            const int index = static_cast<int>(workers_.size()) + 1;
            const std::uint64_t seen = state_.load(std::memory_order_acquire);
            workers_.emplace_back([this, index, seen] { worker(index, seen); });
        }
    }

    void worker(int index, std::uint64_t seen) {
        inside_job() = true;
        for (;;) {
            std::uint64_t now = state_.load(std::memory_order_acquire);
            for (int spins = 0; now == seen && spins < spin_limit; ++spins) {
                KVSHARE_CPU_PAUSE();
                now = state_.load(std::memory_order_acquire);
            }
            if (now == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return state_.load(std::memory_order_acquire) != seen; });
                now = state_.load(std::memory_order_acquire);
                if (stop_) return;
            }
            seen = now;
            if (static_cast<int>(now & 0xffff) == 0) {   // only the destructor publishes 0 threads
                std::lock_guard<std::mutex> lock(mutex_);
                if (stop_) return;
                continue;
            }
            if (index < static_cast<int>(now & 0xffff)) {
                job_(ctx_, index);
                if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                    std::lock_guard<std::mutex> lock(mutex_);
                    done_.notify_one();
                }
            }
        }
    }

    std::mutex run_mutex_;   // one job at a time
    std::mutex mutex_;       // guards sleeping and waking
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    std::atomic<std::uint64_t> state_{0};   // generation << 16 | threads of the current job
    std::atomic<int> remaining_{0};
    void (*job_)(void*, int) = nullptr;
    void* ctx_ = nullptr;
    bool stop_ = false;   // guarded by mutex_
};

}  // namespace kvshare::backend::cpu_detail
