// The simulated board as one native process: the Verilated SoC, its clock, and a TCP
// byte bridge.  Python stepping the clock (cocotb) tops out near 0.5 M cycles/s; here the
// clock loop is plain C++, so the model runs as fast as Verilator can evaluate it.
//
// Usage: epfpga-board --port N [--sessions K] [--ready FILE] [--stats FILE]
// Bytes from the client enter the SoC's rx stream at one per cycle when it is ready;
// tx bytes go back as soon as a burst ends.  With nothing to do (no input pending, no
// output, core idle for a while) the process sleeps in poll() instead of spinning.

#include "Vboard.h"
#include "verilated.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

struct Stats {
    unsigned long long cycles = 0, busy_cycles = 0, rx = 0, tx = 0;
    double run_seconds = 0;  // wall time spent evaluating the model
};

static void write_stats(const char* path, const Stats& s) {
    if (!path) return;
    FILE* f = std::fopen(path, "w");
    if (!f) return;
    std::fprintf(f,
                 "{\"cycles\": %llu, \"busy_cycles\": %llu, \"run_seconds\": %.6f, "
                 "\"rx_bytes\": %llu, \"tx_bytes\": %llu}\n",
                 s.cycles, s.busy_cycles, s.run_seconds, s.rx, s.tx);
    std::fclose(f);
}

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static bool send_all(int fd, const std::vector<unsigned char>& out) {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        return false;
    }
    return true;
}

int main(int argc, char** argv) {
    int port = 0, sessions = 0;
    const char* ready = nullptr;
    const char* stats_path = nullptr;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--port") port = std::atoi(argv[i + 1]);
        else if (a == "--sessions") sessions = std::atoi(argv[i + 1]);
        else if (a == "--ready") ready = argv[i + 1];
        else if (a == "--stats") stats_path = argv[i + 1];
    }
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "epfpga-board: --port 1..65535 is required\n");
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv, (sockaddr*)&addr, sizeof addr) != 0 || listen(srv, 1) != 0) {
        std::fprintf(stderr, "epfpga-board: cannot listen on 127.0.0.1:%d: %s\n", port,
                     std::strerror(errno));
        return 3;
    }

    auto ctx = new VerilatedContext;
    ctx->commandArgs(0, (const char**)nullptr);
    auto top = new Vboard{ctx};
    Stats st;
    auto tick = [&]() {
        top->clk = 1; top->eval();
        top->clk = 0; top->eval();
        ++st.cycles;
    };
    top->clk = 0; top->rst = 1;
    top->rx_bytes___05Fvalid = 0; top->tx_bytes___05Fready = 1;
    top->eval();
    tick(); tick();
    top->rst = 0; top->eval();

    if (ready) {
        if (FILE* f = std::fopen(ready, "w")) { std::fputs("ready\n", f); std::fclose(f); }
    }
    std::printf("listening on 127.0.0.1:%d\n", port);
    std::fflush(stdout);

    const unsigned QUIET = 20000;  // idle cycles before sleeping in poll()
    const unsigned POLL_EVERY = 2048;  // cycles between socket reads while running
    std::deque<unsigned char> pending;
    std::vector<unsigned char> out, buf(1 << 16);
    int served = 0;
    while (!g_stop) {
        pollfd lp{srv, POLLIN, 0};
        if (poll(&lp, 1, 200) <= 0) continue;
        int conn = accept(srv, nullptr, nullptr);
        if (conn < 0) continue;
        set_nonblocking(conn);
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pending.clear();
        unsigned quiet = 0, since_poll = POLL_EVERY;
        bool open = true;
        while (open && !g_stop) {
            if (since_poll >= POLL_EVERY || (pending.empty() && quiet >= QUIET)) {
                since_poll = 0;
                if (pending.empty() && quiet >= QUIET && out.empty()) {
                    pollfd cp{conn, POLLIN, 0};
                    poll(&cp, 1, 50);  // asleep until the host sends
                }
                ssize_t n = recv(conn, buf.data(), buf.size(), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    open = false;
                    break;
                }
                if (n > 0) { pending.insert(pending.end(), buf.begin(), buf.begin() + n); quiet = 0; }
                if (pending.empty() && quiet >= QUIET) continue;
            }
            auto t0 = std::chrono::steady_clock::now();
            // run a slice of cycles without syscalls
            for (unsigned k = 0; k < 256; ++k) {
                top->rx_bytes___05Fvalid = pending.empty() ? 0 : 1;
                if (!pending.empty()) top->rx_bytes___05Fpayload = pending.front();
                top->eval();
                bool rx_taken = !pending.empty() && top->rx_bytes___05Fready;
                bool tx_valid = top->tx_bytes___05Fvalid;
                unsigned char tx_byte = top->tx_bytes___05Fpayload;
                bool busy = top->status_led & 1;
                tick();
                if (rx_taken) { pending.pop_front(); ++st.rx; }
                if (tx_valid) { out.push_back(tx_byte); ++st.tx; }
                if (!tx_valid && !out.empty()) {
                    if (!send_all(conn, out)) { open = false; }
                    out.clear();
                }
                quiet = (rx_taken || tx_valid || busy) ? 0 : quiet + 1;
                if (busy) ++st.busy_cycles;
                if (!open || (pending.empty() && quiet >= QUIET)) break;
            }
            since_poll += 256;
            st.run_seconds += std::chrono::duration<double>(
                std::chrono::steady_clock::now() - t0).count();
        }
        if (!out.empty()) { send_all(conn, out); out.clear(); }
        close(conn);
        ++served;
        write_stats(stats_path, st);
        std::fprintf(stderr,
                     "session %d closed: %llu bytes in, %llu out; %.1f M cycles simulated "
                     "at %.2f M cycles/s\n", served, st.rx, st.tx, st.cycles / 1e6,
                     st.run_seconds > 0 ? st.cycles / st.run_seconds / 1e6 : 0.0);
        if (sessions > 0 && served >= sessions) break;
    }
    write_stats(stats_path, st);
    close(srv);
    top->final();
    delete top;
    delete ctx;
    return 0;
}
