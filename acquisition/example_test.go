package acquisition_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// The daemon's use: start the embedded server, publish from the frame loop without blocking,
// and stop cleanly. An outside subscriber here is a second subscription on the same server.
func Example() {
	bus, err := acquisition.Start(configs.NATS{Embedded: true}, acquisition.BusOptions{})
	if err != nil {
		panic(err)
	}
	defer bus.Stop()
	subj, _ := contract.SubjectsFor("rig1")

	sub, _ := bus.Conn().SubscribeSync(subj.Frame)
	pub := acquisition.NewPublisher(bus.Conn(), 4096, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pub.Run(ctx) }()

	onset := &pb.FrameOnset{Session: "s1"} // reused every frame
	for frame := range uint64(3) {
		onset.Frame = frame
		pub.Publish(subj.Frame, onset) // never blocks
	}
	for range 3 {
		msg, _ := sub.NextMsg(time.Second)
		var got pb.FrameOnset
		_ = proto.Unmarshal(msg.Data, &got)
		fmt.Println(msg.Subject, got.Frame)
	}
	cancel()
	<-done
	// Output:
	// retinad.rig1.frame 0
	// retinad.rig1.frame 1
	// retinad.rig1.frame 2
}
