// The simulated board as one native process: the Verilated SoC, its clock, and a TCP
// bridge standing in for the host's serial port.  Python stepping the clock (cocotb)
// tops out near 0.5 M cycles/s; here the clock loop is plain C++.
//
// Usage: epfpga-board --port N [--sessions K] [--ready FILE] [--stats FILE]
//                     [--quiet CYCLES] [--clock HZ --baud B] [--seed S] [--parent PID]
//
// The board's clock never stops while anything can still happen: it runs until the SoC
// has been quiet (no byte on the line, no answer going out, core idle) for --quiet
// cycles, longer than the frame parser's inter-byte timeout, so a partial frame is
// dropped in simulation as on the board.  Only then does the process sleep in poll():
// from there on every clock would leave the circuit as it is.
//
// A TCP connection is a host session.  A connection that closes, or that a newer one
// takes over, has every byte it sent fed to the board and its answers discarded; the
// next session starts once the board has been quiet for --quiet cycles, as a host that
// reopens a serial port finds a board whose parser has timed out.

#include "Vboard.h"
#include "verilated.h"
#include "board_link.h"
#include "frame_watch.h"

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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

static volatile sig_atomic_t g_stop = 0, g_reset = 0;
static void on_signal(int) { g_stop = 1; }
static void on_reset(int) { g_reset = 1; }  // SIGUSR1: the board's reset button

struct Counters {
    unsigned long long cycles = 0, busy_cycles = 0, wait_cycles = 0, rx = 0, tx = 0;
    double run_seconds = 0;  // wall time spent evaluating the model
};

struct Session {
    Counters start;
    unsigned long long trains = 0, first = 0, train_span = 0, train_wait = 0, train_busy = 0;
    unsigned long long infers = 0, infer_first = 0, infer_span = 0;
};

struct Options {
    int port = 0, sessions = 0;
    const char* ready = nullptr;
    const char* stats = nullptr;
    unsigned long long quiet = 101024, clock = 0, baud = 0;
    int seed = 1;
    long parent = 0;
};

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static bool send_all(int fd, const std::vector<unsigned char>& out) {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            if (poll(&p, 1, 1000) <= 0 || g_stop) return false;
            continue;
        }
        return false;
    }
    return true;
}

// Everything a connection sent that is still in the kernel; false once it has closed.
static bool slurp(int fd, std::deque<unsigned char>& pending, std::vector<unsigned char>& buf) {
    for (;;) {
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n > 0) { pending.insert(pending.end(), buf.begin(), buf.begin() + n); continue; }
        if (n == 0) return false;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
}

class Board {
  public:
    explicit Board(const Options& o) : o_(o) {
        ctx_ = new VerilatedContext;
        ctx_->randReset(2);  // registers and memories without a defined value start random
        ctx_->randSeed(o.seed);
        top_ = new Vboard{ctx_};
        link_ = new Link(top_, o.clock, o.baud);
        top_->clk = 0;
        top_->rst = 1;
        link_->reset_levels();
        top_->eval();
        tick();
        tick();
        top_->rst = 0;
        top_->eval();
    }
    ~Board() {
        top_->final();
        delete link_;
        delete top_;
        delete ctx_;
    }

    // Run up to `n` cycles; answers for the host go to `out` (when `keep`).
    void run(unsigned n, std::deque<unsigned char>& pending, std::vector<unsigned char>& out,
             bool keep, bool& frame_done) {
        auto t0 = std::chrono::steady_clock::now();
        for (unsigned k = 0; k < n; ++k) {
            link_->drive(c_.cycles, pending);
            tick();
            Step s = link_->collect(c_.cycles);
            bool busy = top_->status_led & 1;
            if (s.has_out) {
                ++c_.tx;
                if (keep) {
                    out.push_back(s.out);
                    uint64_t trains = watch_.trains();
                    if (watch_.feed(s.out, c_.cycles)) frame_done = true;
                    if (watch_.trains() != trains) {  // a TRAIN answer: stamp the host waits so far
                        if (trains == 0) wait_first_ = c_.wait_cycles, busy_first_ = c_.busy_cycles;
                        wait_last_ = c_.wait_cycles;
                        busy_last_ = c_.busy_cycles;
                    }
                }
            }
            bool active = s.line_active || busy || !pending.empty();
            if (busy) ++c_.busy_cycles;
            if (!active) ++c_.wait_cycles;  // the board waits for the host
            quiet_ = active ? 0 : quiet_ + 1;
            if (quiet_ >= o_.quiet) break;
        }
        c_.rx = link_->taken();
        c_.run_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    // Nothing on the line, nothing pending, and quiet long enough that every timeout fired.
    bool settled(const std::deque<unsigned char>& pending) const {
        return quiet_ >= o_.quiet && link_->idle(pending);
    }
    // The reset button: the SoC's reset held for a few clocks; the board then runs (its
    // memory controller initialises again) until it is quiet.
    void press_reset() {
        top_->rst = 1;
        for (int k = 0; k < 8; ++k) tick();
        top_->rst = 0;
        top_->eval();
        quiet_ = 0;
    }
    const Counters& counters() const { return c_; }
    FrameWatch& watch() { return watch_; }
    void new_session() { watch_.reset_counts(); wait_first_ = wait_last_ = busy_first_ = busy_last_ = 0; }
    // cycles the board waited for the host between the session's first and last TRAIN answer
    unsigned long long train_wait() const { return wait_last_ - wait_first_; }
    // cycles the EP core computed in that span: the span's share of the compute bound
    unsigned long long train_busy() const { return busy_last_ - busy_first_; }
    uint64_t line_framing_errors() const { return link_->framing_errors(); }

  private:
    void tick() {
        top_->clk = 1; top_->eval();
        top_->clk = 0; top_->eval();
        ++c_.cycles;
    }
    const Options& o_;
    VerilatedContext* ctx_;
    Vboard* top_;
    Link* link_;
    Counters c_;
    FrameWatch watch_;
    unsigned long long quiet_ = 0, wait_first_ = 0, wait_last_ = 0, busy_first_ = 0, busy_last_ = 0;
};

static std::string session_json(const Session& s, const Counters& now, double clock) {
    unsigned long long cyc = now.cycles - s.start.cycles;
    double run = now.run_seconds - s.start.run_seconds;
    double rate = 0, rate_busy = 0;
    // the samples answered after the first answer, over the cycles since it
    if (clock > 0 && s.trains > s.first && s.train_span > 0) {
        rate = (s.trains - s.first) * clock / s.train_span;
        if (s.train_span > s.train_wait) rate_busy = (s.trains - s.first) * clock / (s.train_span - s.train_wait);
    }
    double infer_rate = clock > 0 && s.infers > s.infer_first && s.infer_span > 0
                            ? (s.infers - s.infer_first) * clock / s.infer_span : 0;
    char b[768];
    std::snprintf(b, sizeof b,
                  "{\"cycles\": %llu, \"run_seconds\": %.6f, \"rx_bytes\": %llu, \"tx_bytes\": %llu, "
                  "\"trains\": %llu, \"train_span_cycles\": %llu, \"train_wait_cycles\": %llu, "
                  "\"train_busy_cycles\": %llu, "
                  "\"board_samples_per_s\": %.3f, \"board_samples_per_s_no_wait\": %.3f, "
                  "\"infers\": %llu, \"infer_span_cycles\": %llu, \"board_infers_per_s\": %.3f, "
                  "\"sim_cycles_per_s\": %.1f}",
                  cyc, run, now.rx - s.start.rx, now.tx - s.start.tx, s.trains, s.train_span,
                  s.train_wait, s.train_busy, rate, rate_busy, s.infers, s.infer_span, infer_rate,
                  run > 0 ? cyc / run : 0.0);
    return b;
}

static void write_stats(const Options& o, const Counters& c, const std::vector<std::string>& sessions,
                        unsigned long long line_errors) {
    if (!o.stats) return;
    std::string tmp = std::string(o.stats) + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return;
    std::fprintf(f,
                 "{\"cycles\": %llu, \"busy_cycles\": %llu, \"wait_cycles\": %llu, \"run_seconds\": %.6f, "
                 "\"rx_bytes\": %llu, \"tx_bytes\": %llu, \"clock_hz\": %llu, \"baud\": %llu, "
                 "\"line_framing_errors\": %llu, \"sim_cycles_per_s\": %.1f, \"sessions\": [",
                 c.cycles, c.busy_cycles, c.wait_cycles, c.run_seconds, c.rx, c.tx, o.clock, o.baud,
                 line_errors, c.run_seconds > 0 ? c.cycles / c.run_seconds : 0.0);
    for (size_t i = 0; i < sessions.size(); ++i) std::fprintf(f, "%s%s", i ? ", " : "", sessions[i].c_str());
    std::fprintf(f, "]}\n");
    std::fclose(f);
    std::rename(tmp.c_str(), o.stats);
}

static bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        const char* v = argv[i + 1];
        if (a == "--port") o.port = std::atoi(v);
        else if (a == "--sessions") o.sessions = std::atoi(v);
        else if (a == "--ready") o.ready = v;
        else if (a == "--stats") o.stats = v;
        else if (a == "--quiet") o.quiet = std::strtoull(v, nullptr, 10);
        else if (a == "--clock") o.clock = std::strtoull(v, nullptr, 10);
        else if (a == "--baud") o.baud = std::strtoull(v, nullptr, 10);
        else if (a == "--seed") o.seed = std::atoi(v);
        else if (a == "--parent") o.parent = std::atol(v);
        else { std::fprintf(stderr, "epfpga-board: unknown option %s\n", argv[i]); return false; }
    }
    if (o.port <= 0 || o.port > 65535) {
        std::fprintf(stderr, "epfpga-board: --port 1..65535 is required\n");
        return false;
    }
#ifdef EPFPGA_PINS
    if (!o.clock || !o.baud || o.clock < 4 * o.baud) {
        std::fprintf(stderr, "epfpga-board: --clock and --baud (>= 4 clocks a bit) are required\n");
        return false;
    }
#endif
    return true;
}

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) return 2;
    // ended with the process that started it, even if that one is killed outright
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (o.parent && getppid() != (pid_t)o.parent) return 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
    struct sigaction sr {};
    sr.sa_handler = on_reset;
    sigaction(SIGUSR1, &sr, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv, (sockaddr*)&addr, sizeof addr) != 0 || listen(srv, 4) != 0) {
        std::fprintf(stderr, "epfpga-board: cannot listen on 127.0.0.1:%d: %s\n", o.port, std::strerror(errno));
        return 3;
    }
    set_nonblocking(srv);

    Board board(o);
    if (o.ready) {
        if (FILE* f = std::fopen(o.ready, "w")) { std::fprintf(f, "ready %d\n", (int)getpid()); std::fclose(f); }
    }
    std::printf("listening on 127.0.0.1:%d\n", o.port);
    std::fflush(stdout);

    const unsigned SLICE = 256, POLL_EVERY = 2048;  // cycles per slice; between socket checks
    std::deque<unsigned char> pending;
    std::vector<unsigned char> out, buf(1 << 16);
    std::deque<int> waiting;  // accepted connections, oldest first, not started yet
    std::vector<std::string> done_sessions;
    int active = -1, served = 0;
    Session cur;
    unsigned since_poll = POLL_EVERY;

    auto flush = [&]() {
        if (active >= 0 && !out.empty() && !send_all(active, out)) {
            // the host is gone; what it sent is still fed in
            slurp(active, pending, buf);
        }
        out.clear();
    };
    auto end_session = [&]() {
        flush();
        close(active);
        active = -1;
        const Counters& c = board.counters();
        std::string js = session_json(cur, c, (double)o.clock);
        done_sessions.push_back(js);
        ++served;
        write_stats(o, c, done_sessions, board.line_framing_errors());
        unsigned long long cyc = c.cycles - cur.start.cycles;
        double run = c.run_seconds - cur.start.run_seconds;
        std::fprintf(stderr, "session %d closed: %llu bytes in, %llu out; %.2f M cycles at %.2f M cycles/s",
                     served, c.rx - cur.start.rx, c.tx - cur.start.tx, cyc / 1e6,
                     run > 0 ? cyc / run / 1e6 : 0.0);
        if (o.clock && cur.trains > cur.first && cur.train_span)
            std::fprintf(stderr, "; %llu samples trained, %.1f samples/s in board time (%.0f MHz), "
                         "the core computing %.1f%% of that time",
                         cur.trains, (cur.trains - cur.first) * (double)o.clock / cur.train_span, o.clock / 1e6,
                         100.0 * cur.train_busy / cur.train_span);
        std::fprintf(stderr, "\n");
    };
    auto take_over = [&]() {  // every older connection hands its bytes in and is closed
        if (active >= 0) {
            slurp(active, pending, buf);
            end_session();
        }
        while (!waiting.empty() && waiting.size() > 1) {
            slurp(waiting.front(), pending, buf);
            close(waiting.front());
            waiting.pop_front();
        }
    };

    while (!g_stop) {
        if (g_reset) {
            g_reset = 0;
            board.press_reset();
        }
        bool settled = board.settled(pending);
        if (since_poll >= POLL_EVERY || settled) {
            since_poll = 0;
            pollfd fds[2] = {{srv, POLLIN, 0}, {active, POLLIN, 0}};
            int nfds = active >= 0 ? 2 : 1;
            bool start_next = settled && active < 0 && !waiting.empty();
            if (settled && !start_next) poll(fds, nfds, 50);  // asleep until something happens
            int c;
            while ((c = accept(srv, nullptr, nullptr)) >= 0) {
                set_nonblocking(c);
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                waiting.push_back(c);
                take_over();
            }
            if (active >= 0 && !slurp(active, pending, buf)) end_session();
            flush();
            if (o.sessions > 0 && served >= o.sessions && active < 0 && board.settled(pending)) break;
            if (start_next && board.settled(pending)) {
                active = waiting.front();
                waiting.pop_front();
                cur = Session{};
                cur.start = board.counters();
                board.new_session();
            }
            if (board.settled(pending)) continue;
        }
        bool frame_done = false;
        board.run(SLICE, pending, out, active >= 0, frame_done);
        since_poll += SLICE;
        if (active >= 0) {
            FrameWatch& w = board.watch();
            cur.trains = w.trains();
            cur.first = w.first_samples();
            cur.train_span = w.last_train() - w.first_train();
            cur.infers = w.infers();
            cur.infer_first = w.first_infer_samples();
            cur.infer_span = w.infer_span();
            cur.train_wait = board.train_wait();
            cur.train_busy = board.train_busy();
        }
        if (frame_done) flush();  // an answer goes out as soon as it is whole
    }
    if (active >= 0) end_session();
    for (int c : waiting) close(c);
    write_stats(o, board.counters(), done_sessions, board.line_framing_errors());
    close(srv);
    return 0;
}
