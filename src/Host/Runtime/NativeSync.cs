using System.Runtime.InteropServices;

namespace DetKafka.Host.Runtime;

/// <summary>
/// Directory fsync, which .NET does not expose: a new or renamed directory entry survives a crash only once
/// its parent directory is synced. Windows has no equivalent (and NTFS journals metadata), so it is a no-op there.
/// </summary>
internal static class NativeSync
{
    private const int ORdOnly = 0; // O_DIRECTORY differs per architecture; O_RDONLY opens a directory on every Unix
    private const int EIntr = 4;

    // DllImport rather than LibraryImport: the generated marshalling needs unsafe code, which the build forbids.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int FSync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    /// <summary>fsync a directory. Throws <see cref="IOException"/> carrying the errno as HResult.</summary>
    public static void SyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd;
        do fd = Open(path, ORdOnly);
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);
        if (fd < 0) throw Error("open", path);
        try
        {
            int rc;
            do rc = FSync(fd);
            while (rc < 0 && Marshal.GetLastPInvokeError() == EIntr);
            if (rc < 0) throw Error("fsync", path);
        }
        finally
        {
            Close(fd);
        }
    }

    private static IOException Error(string call, string path)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call}({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }
}
