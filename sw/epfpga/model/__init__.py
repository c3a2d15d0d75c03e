"""The network and its numbers: configs, the numerics contract, the bit-exact golden
model, the float EP reference (numpy and PyTorch), initialisation and the gradient
check."""
