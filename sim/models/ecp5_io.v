// The ECP5 primitives LiteDRAM's SDR core instantiates, for Verilator: the pad buffer,
// the I/O-cell flops and its reset synchroniser.  Yosys's own models (share/lattice) are
// the reference; its TRELLIS_IO tests its T input against 1'bz, which Verilator cannot
// compile, so these are written out here with the same behaviour for 0/1 inputs.  GSR
// is not modelled (the core's reset comes through its logic).
module TRELLIS_IO(inout B, input I, input T, output O);
    parameter DIR = "INPUT";
    generate
        if (DIR == "INPUT") begin
            assign O = B;
        end else if (DIR == "OUTPUT") begin
            assign B = T ? 1'bz : I;
            assign O = 1'b0;
        end else begin  // BIDIR
            assign B = T ? 1'bz : I;
            assign O = B;
        end
    endgenerate
endmodule

// output / input flop with clock enable SP and asynchronous preset PD (REGSET "SET",
// SRMODE "ASYNC", as Yosys's cells_ff.vh maps them onto TRELLIS_FF)
module OFS1P3BX(input PD, input D, input SP, input SCLK, output reg Q);
    parameter GSR = "ENABLED";
    initial Q = 1'b1;
    always @(posedge SCLK or posedge PD)
        if (PD) Q <= 1'b1;
        else if (SP) Q <= D;
endmodule

module IFS1P3BX(input PD, input D, input SP, input SCLK, output Q);
    parameter GSR = "ENABLED";
    OFS1P3BX #(.GSR(GSR)) ff(.PD(PD), .D(D), .SP(SP), .SCLK(SCLK), .Q(Q));
endmodule

// the core's reset synchroniser: a flop with asynchronous preset and no enable
module FD1S3BX(input PD, input D, input CK, output reg Q);
    parameter GSR = "ENABLED";
    initial Q = 1'b1;
    always @(posedge CK or posedge PD)
        if (PD) Q <= 1'b1;
        else Q <= D;
endmodule
