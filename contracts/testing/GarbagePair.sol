// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A contract that looks like a pair to a careless reader, for tests only.
/// @notice token0/token1 answer; getReserves (and anything else) answers 32 bytes of junk, which
///         pool-state must report as a faulty pool and never trade. Never deployed outside tests.
contract GarbagePair {
    address public token0;
    address public token1;

    constructor(address a, address b) {
        (token0, token1) = a < b ? (a, b) : (b, a);
    }

    fallback(bytes calldata) external returns (bytes memory) {
        return abi.encode(uint256(type(uint256).max));
    }
}
