using System.Runtime.InteropServices;

namespace DetKafka.Host.Perf;

/// <summary>
/// ppoll(2) on Linux: waits for sockets with a nanosecond timeout. <see cref="System.Net.Sockets.Socket.Select"/>
/// hands poll(2) whole milliseconds, so a throttled load generator due to send in 300 microseconds would either
/// spin (a 0 ms wait) or send up to a millisecond late; both distort what it measures.
/// </summary>
internal static class NativePoll
{
    public const short PollIn = 0x001;
    public const short PollOut = 0x004;
    public const short PollErr = 0x008;
    public const short PollHup = 0x010;
    public const short PollNval = 0x020;
    private const int EIntr = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // DllImport rather than LibraryImport: the generated marshalling needs unsafe code, which the build forbids.
    [DllImport("libc", EntryPoint = "ppoll", SetLastError = true)]
    private static extern int PPoll([In, Out] PollFd[] fds, ulong count, ref TimeSpec timeout, IntPtr signalMask);

    public static bool Supported => OperatingSystem.IsLinux() && (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64);

    /// <summary>Waits until one of the first <paramref name="count"/> descriptors is ready or the timeout passes.
    /// Returns how many are ready (their <see cref="PollFd.Revents"/> say how); 0 on timeout or interruption.</summary>
    public static int Wait(PollFd[] fds, int count, long timeoutMicros)
    {
        var timeout = new TimeSpec { Seconds = timeoutMicros / 1_000_000, Nanoseconds = timeoutMicros % 1_000_000 * 1_000 };
        int rc = PPoll(fds, (ulong)count, ref timeout, IntPtr.Zero);
        if (rc >= 0) return rc;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == EIntr) return 0;
        throw new IOException($"ppoll failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }
}
