// The host's side of a board's serial line, in board clock cycles: an 8N1 transmitter
// that puts the host's bytes on `rx` back to back (a USB-serial chip sends what it has
// and never waits for the board) and an 8N1 receiver for `tx`.  A bit lasts exactly
// clock/baud cycles: edges fall on the first clock at or after each bit's exact start,
// so a fractional bit period is kept on average, as the host's exact baud does.
#pragma once

#include <cstdint>
#include <deque>

// First cycle (relative to a start edge) of bit n: ceil(n * clock / baud).
static inline uint64_t bit_start(uint64_t n, uint64_t clock, uint64_t baud) {
    return (uint64_t)(((unsigned __int128)n * clock + baud - 1) / baud);
}

class HostTx {
  public:
    HostTx(uint64_t clock, uint64_t baud) : clock_(clock), baud_(baud) {}

    // The level on `rx` for cycle `c`, taking bytes from `q` (popped when sent).
    int level(uint64_t c, std::deque<unsigned char>& q) {
        if (!busy_) {
            if (q.empty()) return 1;
            busy_ = true;  // a start bit now
            epoch_ = c;
            n_ = 0;
            next_ = epoch_ + bit_start(1, clock_, baud_);
            return level_ = 0;
        }
        while (c >= next_) {
            ++n_;
            if (n_ % 10 == 0) {  // a stop bit ended: the byte is on the wire
                q.pop_front();
                ++sent_;
                if (q.empty()) { busy_ = false; return level_ = 1; }
            }
            next_ = epoch_ + bit_start(n_ + 1, clock_, baud_);
        }
        unsigned k = n_ % 10;
        level_ = k == 0 ? 0 : k == 9 ? 1 : (q.front() >> (k - 1)) & 1;
        return level_;
    }
    bool busy() const { return busy_; }
    uint64_t sent() const { return sent_; }

  private:
    uint64_t clock_, baud_;
    bool busy_ = false;
    uint64_t epoch_ = 0, n_ = 0, next_ = 0, sent_ = 0;
    int level_ = 1;
};

class HostRx {
  public:
    HostRx(uint64_t clock, uint64_t baud) : clock_(clock), baud_(baud) {}

    // Feed the `tx` level of cycle `c`; true with `out` set when a byte is complete.
    bool sample(uint64_t c, int level, unsigned char& out) {
        if (!busy_) {
            if (level) return false;
            busy_ = true;
            start_ = c;
            k_ = 0;
            shift_ = 0;
            next_ = start_ + mid(0);
            return false;
        }
        if (c < next_) return false;
        if (k_ == 0 && level) { busy_ = false; return false; }  // a glitch, not a start bit
        if (k_ >= 1 && k_ <= 8) shift_ |= (unsigned)level << (k_ - 1);
        if (k_ == 9) {
            busy_ = false;
            if (!level) { ++framing_errors_; return false; }
            out = (unsigned char)shift_;
            return true;
        }
        ++k_;
        next_ = start_ + mid(k_);
        return false;
    }
    bool busy() const { return busy_; }
    uint64_t framing_errors() const { return framing_errors_; }

  private:
    // the middle of bit k after the start edge: floor((k + 1/2) * clock / baud)
    uint64_t mid(uint64_t k) const {
        return (uint64_t)(((unsigned __int128)(2 * k + 1) * clock_) / (2 * baud_));
    }
    uint64_t clock_, baud_;
    bool busy_ = false;
    uint64_t start_ = 0, next_ = 0, framing_errors_ = 0;
    unsigned k_ = 0, shift_ = 0;
};
