// Watches the board's answers (sw/epfpga/protocol.py framing) to time TRAIN answers (one
// sample each) and DS_TRAIN answers (a prediction byte per sample) in board clock cycles:
// what the board's training rate is, the link included; DS_INFER answers the same way,
// for the rate of a test pass from the store.  It only reads; the bytes go to
// the host unchanged.
#pragma once

#include <cstdint>

class FrameWatch {
  public:
    static constexpr unsigned char SOF = 0xA5, TRAIN_ANSWER = 0x85, DS_TRAIN_ANSWER = 0x8B,
                                    DS_INFER_ANSWER = 0x8C;

    // One byte the board sent, complete at cycle `c`; true when it ends a whole frame.
    bool feed(unsigned char b, uint64_t c) {
        switch (state_) {
            case HUNT:
                if (b == SOF) { state_ = HEAD; n_ = 0; crc_ = 0xFFFF; }
                return false;
            case HEAD:
                head_[n_++] = b;
                if (n_ < 6) { crc_ = crc16(crc_, b); return false; }
                if ((crc_ & 0xFF) != b) { state_ = HUNT; return false; }
                len_ = head_[3] | (head_[4] << 8);
                n_ = 0;
                state_ = len_ ? BODY : TAIL;
                return false;
            case BODY:
                crc_ = crc16(crc_, b);
                if (++n_ == len_) { state_ = TAIL; n_ = 0; }
                return false;
            case TAIL:
                tail_[n_++] = b;
                if (n_ < 2) return false;
                state_ = HUNT;
                if ((tail_[0] | (tail_[1] << 8)) != crc_) return false;
                ++frames_;
                if (head_[0] == TRAIN_ANSWER || head_[0] == DS_TRAIN_ANSWER) {
                    unsigned n = head_[0] == TRAIN_ANSWER ? 1 : len_;
                    if (!trains_) first_train_ = c, first_samples_ = n;
                    last_train_ = c;
                    trains_ += n;
                }
                if (head_[0] == DS_INFER_ANSWER) {
                    if (!infers_) first_infer_ = c, first_infer_samples_ = len_;
                    last_infer_ = c;
                    infers_ += len_;
                }
                return true;
        }
        return false;
    }
    void reset_counts() {
        frames_ = trains_ = first_samples_ = 0;
        first_train_ = last_train_ = 0;
        infers_ = first_infer_samples_ = first_infer_ = last_infer_ = 0;
    }
    uint64_t frames() const { return frames_; }
    uint64_t trains() const { return trains_; }  // samples trained, as answered
    uint64_t first_samples() const { return first_samples_; }  // in the first answer
    uint64_t first_train() const { return first_train_; }
    uint64_t last_train() const { return last_train_; }
    uint64_t infers() const { return infers_; }  // samples inferred from the store
    uint64_t first_infer_samples() const { return first_infer_samples_; }
    uint64_t infer_span() const { return last_infer_ - first_infer_; }

  private:
    static uint16_t crc16(uint16_t crc, unsigned char b) {  // CRC-16/CCITT-FALSE
        crc ^= (uint16_t)b << 8;
        for (int i = 0; i < 8; ++i)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        return crc;
    }
    enum { HUNT, HEAD, BODY, TAIL } state_ = HUNT;
    unsigned char head_[6] = {}, tail_[2] = {};
    unsigned n_ = 0, len_ = 0;
    uint16_t crc_ = 0xFFFF;
    uint64_t frames_ = 0, trains_ = 0, first_samples_ = 0, first_train_ = 0, last_train_ = 0;
    uint64_t infers_ = 0, first_infer_samples_ = 0, first_infer_ = 0, last_infer_ = 0;
};
