"""Work done inside generators, coroutines driven by hand, and asyncio tasks.

Three phases of SECONDS each (default 0.6). Expected call paths, root to leaf:
  consume_generator -> delegating_generator -> produce_values -> generator_burn
  drive_coroutine -> coroutine_outer -> coroutine_inner -> coroutine_burn
  (event loop) ... -> asyncio_task_body -> asyncio_leaf -> asyncio_burn
"""
import asyncio
import sys
import time

clock = time.perf_counter


def spin(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def generator_burn():
    return spin(0.002)


def produce_values(seconds):
    end = clock() + seconds
    while clock() < end:
        yield generator_burn()


def delegating_generator(seconds):
    yield from produce_values(seconds)


def consume_generator(seconds):
    count = 0
    for _ in delegating_generator(seconds):
        count += 1
    return count


class Suspend:
    """An awaitable that suspends its coroutine once, like a bare `yield`."""

    def __await__(self):
        yield


def coroutine_burn():
    return spin(0.002)


async def coroutine_inner():
    coroutine_burn()
    await Suspend()


async def coroutine_outer(seconds):
    end = clock() + seconds
    while clock() < end:
        await coroutine_inner()


def drive_coroutine(seconds):
    coro = coroutine_outer(seconds)
    steps = 0
    try:
        while True:
            coro.send(None)
            steps += 1
    except StopIteration:
        return steps


def asyncio_burn():
    return spin(0.002)


async def asyncio_leaf():
    asyncio_burn()
    await asyncio.sleep(0)


async def asyncio_task_body(seconds):
    end = clock() + seconds
    while clock() < end:
        await asyncio_leaf()


async def asyncio_main(seconds):
    await asyncio.gather(*(asyncio_task_body(seconds) for _ in range(3)))


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
    consume_generator(seconds)
    drive_coroutine(seconds)
    asyncio.run(asyncio_main(seconds))
    print("suspended work done")


main()
