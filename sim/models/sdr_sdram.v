// An x16 SDR SDRAM at its pins, for the faithful simulated ULX3S (epfpga's own model:
// the vendors' models carry no open licence).  Behaviour per the JEDEC SDR command set
// as MT48LC16M16A2 / IS42S16160 / AS4C32M16 data sheets give it: ACTIVE opens a row per
// bank, READ answers CL clocks later (burst length 1), WRITE takes dq with its DQM mask,
// PRECHARGE (A10: all banks), AUTO REFRESH, LOAD MODE REGISTER.
//
// Zero-delay timing: the board clocks the chip from a copy of the core clock shifted by
// 90 degrees; here the chip samples on the core clock's falling edge, which is also
// between the controller's launch and capture edges, so every command, write and read
// lands in the same core cycle as on the board.
//
// Misuse stops the simulation ($fatal): a command to a closed bank or a row opened
// twice, ACTIVE/READ/WRITE/PRECHARGE/REFRESH sooner than tRCD, tRP, tRC or tRFC allow,
// refresh gaps longer than 9 x tREFI (a controller may postpone eight) unless the
// controller starts again (a reset: its init sequence ends with LOAD MODE, and nothing
// may touch a row before it), a gap longer than the 64 ms retention time, a mode other
// than burst length 1.  Across a reset the contents are kept (a gap of a few hundred
// microseconds is far inside what every part retains; the host checks them anyway).
module sdr_sdram #(
    parameter ROW_BITS = 13,
    parameter COL_BITS = 9,
    parameter BANK_BITS = 2,
    parameter real CLK_NS = 25.0,
    parameter real T_RCD = 18.0, T_RP = 18.0, T_RC = 60.0, T_RFC = 66.0,
    parameter real T_REFI = 7812.5, T_RET = 64.0e6
) (
    input clk,
    input cke,
    input cs_n, ras_n, cas_n, we_n,
    input [BANK_BITS-1:0] ba,
    input [ROW_BITS-1:0] a,
    input [1:0] dqm,
    inout [15:0] dq
);
    localparam BANKS = 1 << BANK_BITS;
    localparam WORDS = 1 << (BANK_BITS + ROW_BITS + COL_BITS);
    localparam integer RCD = $rtoi(T_RCD / CLK_NS + 0.999);
    localparam integer RP = $rtoi(T_RP / CLK_NS + 0.999);
    localparam integer RC = $rtoi(T_RC / CLK_NS + 0.999);
    localparam integer RFC = $rtoi(T_RFC / CLK_NS + 0.999);
    localparam integer REF_GAP = $rtoi(9.0 * T_REFI / CLK_NS);
    localparam integer RET = $rtoi(T_RET / CLK_NS);

    reg [15:0] mem [0:WORDS-1];
    reg [ROW_BITS-1:0] row [0:BANKS-1];
    reg [BANKS-1:0] open_ = 0;
    reg [2:0] cl = 3'd2;
    reg mode_set = 0;
    reg [63:0] now = 0;
    reg [63:0] t_act [0:BANKS-1];
    reg [63:0] t_pre [0:BANKS-1];
    reg [63:0] t_ref = 0;
    reg refreshed = 0;
    reg lapsed = 0;  // refresh stopped (the controller in reset) until the next LOAD MODE
    reg [63:0] t_lapse = 0;  // the last refresh before the lapse

    // reads in flight: data and DQM, shifted one chip clock at a time
    reg [15:0] rd_data [0:3];
    reg [3:0] rd_valid = 0;
    reg [15:0] dq_out = 0;
    reg dq_oe = 0;
    assign dq = dq_oe ? dq_out : 16'bz;

    integer k;
    initial begin
        for (k = 0; k < BANKS; k = k + 1) begin
            t_act[k] = 0;
            t_pre[k] = 0;
        end
    end

    wire [3:0] cmd = {cs_n, ras_n, cas_n, we_n};
    wire [BANK_BITS+ROW_BITS+COL_BITS-1:0] addr = {ba, row[ba], a[COL_BITS-1:0]};
    wire all_banks = a[10];

    always @(negedge clk) begin
        now <= now + 1;
        // the read pipeline: data is on dq from CL - 1 chip clocks after its READ, for
        // one clock
        dq_oe <= 0;
        for (k = 3; k > 0; k = k - 1) begin
            rd_data[k] <= rd_data[k - 1];
            rd_valid[k] <= rd_valid[k - 1];
        end
        rd_valid[0] <= 0;
        if (rd_valid[cl - 2]) begin  // (rd_valid[0]: the READ one chip clock ago)
            dq_out <= rd_data[cl - 2];
            dq_oe <= 1;
        end
        if (refreshed && !lapsed && now - t_ref > REF_GAP) begin
            lapsed <= 1;
            t_lapse <= t_ref;
        end
        if (cke) begin
            if (lapsed && (cmd == 4'b0011 || cmd == 4'b0101 || cmd == 4'b0100))
                $fatal(1, "sdr_sdram: no AUTO REFRESH for %0d clocks, and no new init",
                       now - t_lapse);
            case (cmd)
                4'b0011: begin  // ACTIVE
                    if (open_[ba]) $fatal(1, "sdr_sdram: ACTIVE on open bank %0d", ba);
                    if (now - t_pre[ba] < RP) $fatal(1, "sdr_sdram: ACTIVE inside tRP");
                    if (t_act[ba] != 0 && now - t_act[ba] < RC)
                        $fatal(1, "sdr_sdram: ACTIVE inside tRC");
                    open_[ba] <= 1;
                    row[ba] <= a;
                    t_act[ba] <= now;
                end
                4'b0101, 4'b0100: begin  // READ, WRITE
                    if (!mode_set) $fatal(1, "sdr_sdram: access before LOAD MODE");
                    if (!open_[ba]) $fatal(1, "sdr_sdram: access to closed bank %0d", ba);
                    if (now - t_act[ba] < RCD) $fatal(1, "sdr_sdram: access inside tRCD");
                    if (cmd[0]) begin
                        rd_data[0] <= mem[addr];
                        rd_valid[0] <= 1;
                    end else begin
                        if (!dqm[0]) mem[addr][7:0] <= dq[7:0];
                        if (!dqm[1]) mem[addr][15:8] <= dq[15:8];
                    end
                    if (a[10]) begin  // auto precharge
                        open_[ba] <= 0;
                        t_pre[ba] <= now;
                    end
                end
                4'b0010: begin  // PRECHARGE
                    for (k = 0; k < BANKS; k = k + 1)
                        if (all_banks || ba == k) begin
                            open_[k] <= 0;
                            t_pre[k] <= now;
                        end
                end
                4'b0001: begin  // AUTO REFRESH
                    if (open_ != 0) $fatal(1, "sdr_sdram: AUTO REFRESH with a bank open");
                    if (refreshed && now - t_ref < RFC) $fatal(1, "sdr_sdram: REFRESH inside tRFC");
                    t_ref <= now;
                    refreshed <= 1;
                end
                4'b0000: begin  // LOAD MODE REGISTER
                    if (open_ != 0) $fatal(1, "sdr_sdram: LOAD MODE with a bank open");
                    if (a[2:0] != 0 || a[3]) $fatal(1, "sdr_sdram: burst length must be 1");
                    if (a[6:4] != 2 && a[6:4] != 3) $fatal(1, "sdr_sdram: CL %0d", a[6:4]);
                    if (lapsed && now - t_lapse > RET)
                        $fatal(1, "sdr_sdram: contents lost: no refresh for %0d clocks",
                               now - t_lapse);
                    cl <= a[6:4];
                    mode_set <= 1;
                    lapsed <= 0;
                end
                default: ;  // NOP, DESELECT, BURST TERMINATE
            endcase
        end
    end
endmodule
