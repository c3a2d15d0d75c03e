// How host bytes reach the simulated SoC and its answers come back, one clock at a time.
//   PinLink (EPFPGA_PINS): the board build's circuit, UART at the pins: bytes go onto
//     `rx` as 8N1 at the board's baud whether or not the board is ready, `tx` is decoded.
//   BytePortLink: the byte-stream SoC (fast path): a byte enters whenever the SoC's
//     receive stream is ready, answers leave a byte per cycle.
#pragma once

#include "Vboard.h"
#include "uart_line.h"

#include <cstdint>
#include <deque>

struct Step {
    bool line_active;  // a host byte is on its way in, or an answer on its way out
    bool has_out;
    unsigned char out;
};

#ifdef EPFPGA_PINS
class PinLink {
  public:
    PinLink(Vboard* top, uint64_t clock, uint64_t baud) : top_(top), tx_(clock, baud), rx_(clock, baud) {}
    void reset_levels() { top_->rx = 1; }
    // Drive the inputs of cycle `c` (before its rising edge).
    void drive(uint64_t c, std::deque<unsigned char>& pending) { top_->rx = tx_.level(c, pending); }
    // Read the outputs after the edge of cycle `c`.
    Step collect(uint64_t c) {
        Step s{tx_.busy(), false, 0};
        s.has_out = rx_.sample(c, top_->tx, s.out);
        s.line_active = s.line_active || rx_.busy() || !top_->tx;
        return s;
    }
    bool idle(const std::deque<unsigned char>& pending) const { return pending.empty() && !tx_.busy() && !rx_.busy(); }
    uint64_t taken() const { return tx_.sent(); }
    uint64_t framing_errors() const { return rx_.framing_errors(); }

  private:
    Vboard* top_;
    HostTx tx_;
    HostRx rx_;
};
using Link = PinLink;
#else
class BytePortLink {
  public:
    BytePortLink(Vboard* top, uint64_t, uint64_t) : top_(top) {}
    void reset_levels() { top_->rx_bytes___05Fvalid = 0; top_->tx_bytes___05Fready = 1; }
    void drive(uint64_t, std::deque<unsigned char>& pending) {
        top_->rx_bytes___05Fvalid = pending.empty() ? 0 : 1;
        if (!pending.empty()) top_->rx_bytes___05Fpayload = pending.front();
        top_->eval();  // ready may depend on valid
        taking_ = !pending.empty() && top_->rx_bytes___05Fready;
        out_valid_ = top_->tx_bytes___05Fvalid;
        out_byte_ = top_->tx_bytes___05Fpayload;
        if (taking_) { pending.pop_front(); ++taken_; }
    }
    Step collect(uint64_t) { return Step{taking_ || out_valid_, out_valid_, out_byte_}; }
    bool idle(const std::deque<unsigned char>& pending) const { return pending.empty(); }
    uint64_t taken() const { return taken_; }
    uint64_t framing_errors() const { return 0; }

  private:
    Vboard* top_;
    bool taking_ = false, out_valid_ = false;
    unsigned char out_byte_ = 0;
    uint64_t taken_ = 0;
};
using Link = BytePortLink;
#endif
