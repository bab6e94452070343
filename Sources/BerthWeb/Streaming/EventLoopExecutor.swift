import NIOCore

/// Runs a task's jobs on a NIO event loop. A stream's writer that runs on its connection's own event loop wakes there
/// and writes at once, instead of waking on Swift's thread pool and handing each write to the loop's thread: for ten
/// thousand pages watching one engine event, ten thousand thread hops fewer.
final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
