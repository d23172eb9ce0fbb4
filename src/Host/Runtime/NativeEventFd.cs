using System.Runtime.InteropServices;

namespace DetKafka.Host.Runtime;

/// <summary>
/// eventfd(2) on Linux: the one descriptor other threads write to wake the event loop out of its ppoll (a sync
/// completion, a signal handler's stop, a test's invoke). Non-blocking; reading it resets the counter.
/// </summary>
internal sealed class NativeEventFd : IDisposable
{
    private const int EfdNonBlock = 0x800; // O_NONBLOCK on x64 and arm64
    private const int EfdCloexec = 0x80000;
    private const int EIntr = 4;
    private const int EAgain = 11;

    // DllImport rather than LibraryImport: the generated marshalling needs unsafe code, which the build forbids.
    [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static extern int EventFd(uint initial, int flags);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern nint Write(int fd, ref ulong value, nuint count);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint Read(int fd, out ulong value, nuint count);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    private int _fd;

    public NativeEventFd()
    {
        _fd = EventFd(0, EfdNonBlock | EfdCloexec);
        if (_fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"eventfd failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    public int Fd => _fd;

    /// <summary>Thread-safe. Makes the descriptor readable until <see cref="Reset"/>.</summary>
    public void Signal()
    {
        ulong one = 1;
        nint rc;
        do rc = Write(_fd, ref one, 8);
        while (rc < 0 && Marshal.GetLastPInvokeError() == EIntr);
        // EAGAIN only when the counter is at its maximum: it is readable then anyway.
    }

    /// <summary>Loop thread: consume the pending signals.</summary>
    public void Reset()
    {
        nint rc;
        do rc = Read(_fd, out _, 8);
        while (rc < 0 && Marshal.GetLastPInvokeError() == EIntr);
        _ = EAgain; // nothing pending is fine
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Close(fd);
    }
}
