// Behavioural model of the ECP5's DP16KD block RAM, written for epfpga's gate-level
// simulation (Yosys's ECP5 library declares the cell without a behaviour).  It covers
// what Yosys's memory mapping (share/lattice/brams_16kd.txt, brams_map_16kd.v) emits:
// widths 1, 2, 4, 9 and 18 per port, REGMODE NOREG, CSDECODE 0b000 with CS tied low,
// WRITEMODE NORMAL (output held while writing), WRITETHROUGH (the data written) and
// READBEFOREWRITE (the old data), byte enables on ADx1:0 at width 18, a reset that
// zeroes the output, INITVAL_xx as 16 words of 18 bits in 20-bit slots.  Any other
// setting stops the simulation at time 0 instead of being simulated wrongly.
//
// Storage: 2048 nine-bit bytes.  Width 18 reads/writes bytes 2k and 2k+1 (address bits
// 13:4), width 9 one byte (13:3); widths 4, 2 and 1 reach only the eight data bits of a
// byte (address bits 13:2, 13:1, 13:0).
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6,
        DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1,
        ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
         DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6,
        DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1,
        ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
         DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter GSR = "ENABLED";
  parameter INIT_DATA = "STATIC";
  parameter INITVAL_00 = 320'h0; parameter INITVAL_01 = 320'h0; parameter INITVAL_02 = 320'h0;
  parameter INITVAL_03 = 320'h0; parameter INITVAL_04 = 320'h0; parameter INITVAL_05 = 320'h0;
  parameter INITVAL_06 = 320'h0; parameter INITVAL_07 = 320'h0; parameter INITVAL_08 = 320'h0;
  parameter INITVAL_09 = 320'h0; parameter INITVAL_0A = 320'h0; parameter INITVAL_0B = 320'h0;
  parameter INITVAL_0C = 320'h0; parameter INITVAL_0D = 320'h0; parameter INITVAL_0E = 320'h0;
  parameter INITVAL_0F = 320'h0; parameter INITVAL_10 = 320'h0; parameter INITVAL_11 = 320'h0;
  parameter INITVAL_12 = 320'h0; parameter INITVAL_13 = 320'h0; parameter INITVAL_14 = 320'h0;
  parameter INITVAL_15 = 320'h0; parameter INITVAL_16 = 320'h0; parameter INITVAL_17 = 320'h0;
  parameter INITVAL_18 = 320'h0; parameter INITVAL_19 = 320'h0; parameter INITVAL_1A = 320'h0;
  parameter INITVAL_1B = 320'h0; parameter INITVAL_1C = 320'h0; parameter INITVAL_1D = 320'h0;
  parameter INITVAL_1E = 320'h0; parameter INITVAL_1F = 320'h0; parameter INITVAL_20 = 320'h0;
  parameter INITVAL_21 = 320'h0; parameter INITVAL_22 = 320'h0; parameter INITVAL_23 = 320'h0;
  parameter INITVAL_24 = 320'h0; parameter INITVAL_25 = 320'h0; parameter INITVAL_26 = 320'h0;
  parameter INITVAL_27 = 320'h0; parameter INITVAL_28 = 320'h0; parameter INITVAL_29 = 320'h0;
  parameter INITVAL_2A = 320'h0; parameter INITVAL_2B = 320'h0; parameter INITVAL_2C = 320'h0;
  parameter INITVAL_2D = 320'h0; parameter INITVAL_2E = 320'h0; parameter INITVAL_2F = 320'h0;
  parameter INITVAL_30 = 320'h0; parameter INITVAL_31 = 320'h0; parameter INITVAL_32 = 320'h0;
  parameter INITVAL_33 = 320'h0; parameter INITVAL_34 = 320'h0; parameter INITVAL_35 = 320'h0;
  parameter INITVAL_36 = 320'h0; parameter INITVAL_37 = 320'h0; parameter INITVAL_38 = 320'h0;
  parameter INITVAL_39 = 320'h0; parameter INITVAL_3A = 320'h0; parameter INITVAL_3B = 320'h0;
  parameter INITVAL_3C = 320'h0; parameter INITVAL_3D = 320'h0; parameter INITVAL_3E = 320'h0;
  parameter INITVAL_3F = 320'h0;

  localparam [64*320-1:0] INITVALS = {
    INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39,
    INITVAL_38, INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32,
    INITVAL_31, INITVAL_30, INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B,
    INITVAL_2A, INITVAL_29, INITVAL_28, INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24,
    INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20, INITVAL_1F, INITVAL_1E, INITVAL_1D,
    INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18, INITVAL_17, INITVAL_16,
    INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10, INITVAL_0F,
    INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08,
    INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01,
    INITVAL_00};

  reg [8:0] mem [0:2047];
  reg [17:0] doa = 18'd0, dob = 18'd0;
  integer k;
  initial begin
    for (k = 0; k < 1024; k = k + 1) begin
      mem[2 * k] = INITVALS[(k / 16) * 320 + (k % 16) * 20 +: 9];
      mem[2 * k + 1] = INITVALS[(k / 16) * 320 + (k % 16) * 20 + 9 +: 9];
    end
    if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG" || CSDECODE_A != "0b000"
        || CSDECODE_B != "0b000" || CLKAMUX != "CLKA" || CLKBMUX != "CLKB")
      $fatal(1, "DP16KD model: a mode epfpga's gate-level simulation does not cover");
  end

  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8,
                     DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8,
                     DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3,
                     ADA2, ADA1, ADA0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3,
                     ADB2, ADB1, ADB0};
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
          DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
          DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;

  // the word a port of `width` sees at address `ad`
  function automatic [17:0] peek(input integer width, input [13:0] ad);
    reg [8:0] b;
    begin
      case (width)
        18: peek = {mem[{ad[13:4], 1'b1}], mem[{ad[13:4], 1'b0}]};
        9: peek = {9'd0, mem[ad[13:3]]};
        4: begin b = mem[ad[13:3]]; peek = {14'd0, ad[2] ? b[7:4] : b[3:0]}; end
        2: begin b = mem[ad[13:3]]; peek = {16'd0, b[ad[2:1] * 2 +: 2]}; end
        default: begin b = mem[ad[13:3]]; peek = {17'd0, b[ad[2:0]]}; end
      endcase
    end
  endfunction

  task automatic poke(input integer width, input [13:0] ad, input [17:0] d);
    begin
      case (width)
        18: begin
          if (ad[0]) mem[{ad[13:4], 1'b0}] = d[8:0];
          if (ad[1]) mem[{ad[13:4], 1'b1}] = d[17:9];
        end
        9: mem[ad[13:3]] = d[8:0];
        4: if (ad[2]) mem[ad[13:3]][7:4] = d[3:0]; else mem[ad[13:3]][3:0] = d[3:0];
        2: mem[ad[13:3]][ad[2:1] * 2 +: 2] = d[1:0];
        default: mem[ad[13:3]][ad[2:0]] = d[0];
      endcase
    end
  endtask

  // Port A, then port B, in one process: a same-cycle collision resolves as A first.
  always @(posedge CLKA or posedge CLKB) begin
    if (CLKA) begin
      if (RSTA) doa <= 18'd0;
      else if (CEA) begin
        if (!WEA || WRITEMODE_A == "READBEFOREWRITE") doa <= peek(DATA_WIDTH_A, ada);
        if (WEA) begin
          poke(DATA_WIDTH_A, ada, dia);
          if (WRITEMODE_A == "WRITETHROUGH") doa <= peek(DATA_WIDTH_A, ada);
        end
      end
    end
    if (CLKB) begin
      if (RSTB) dob <= 18'd0;
      else if (CEB) begin
        if (!WEB || WRITEMODE_B == "READBEFOREWRITE") dob <= peek(DATA_WIDTH_B, adb);
        if (WEB) begin
          poke(DATA_WIDTH_B, adb, dib);
          if (WRITEMODE_B == "WRITETHROUGH") dob <= peek(DATA_WIDTH_B, adb);
        end
      end
    end
  end
endmodule
