"""C code that sleeps without retrying on EINTR (libc usleep through ctypes), each time right
after some work, 20 times. Prints how many sleeps were cut short by a signal."""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
interrupted = 0
for i in range(20):
    x = sum(range(200000))  # work: the thread uses CPU, so the sampler looks at it closely
    if libc.usleep(30000) != 0 and ctypes.get_errno() == 4:
        interrupted += 1
print("usleep interrupted %d of 20 times" % interrupted)
