using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace DetKafka.Core.Util;

/// <summary>Raised when an invariant is broken. The node stops loudly; in the simulator the seed fails.</summary>
public sealed class InvariantViolationException(string message) : Exception(message);

/// <summary>
/// Always-on assertions (Debug.Assert is stripped from Release builds). Preconditions at handler entry,
/// invariants after state changes.
/// </summary>
public static class Check
{
    public static void That([DoesNotReturnIf(false)] bool condition,
        [CallerArgumentExpression(nameof(condition))] string? expression = null)
    {
        if (!condition) Fail(expression);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Fail(string? message) => throw new InvariantViolationException("invariant violated: " + message);
}
