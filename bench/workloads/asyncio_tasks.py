"""Eight asyncio tasks interleaving two kinds of CPU work (2:1) at every await."""
import asyncio

from benchlib import main, spin, timed

TASKS = 8


def task_a(n):
    return spin(n)


def task_b(n):
    return spin(n)


async def task(units):
    for _ in range(units):
        timed("task_a", task_a, 8000)
        await asyncio.sleep(0)
        timed("task_b", task_b, 4000)
        await asyncio.sleep(0)


async def all_tasks(units):
    per_task = max(1, units // TASKS)
    await asyncio.gather(*(task(per_task) for _ in range(TASKS)))


def work(units):
    asyncio.run(all_tasks(units))


if __name__ == "__main__":
    main(work)
