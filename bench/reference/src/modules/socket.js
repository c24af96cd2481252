// The seed's Socket.IO module (socketio-messaging.md, "Socket.io Module"), as the seed describes it:
// auth from the handshake ({userId, username}, trusted as sent), an in-memory userId → socket map
// (one socket per user: a second device replaces the first), every event relayed to the recipient's
// socket if it is online, userOnline/userOffline broadcast to all clients, no persistence, no rate
// limits. It is the baseline Confab is measured against, so it is kept as the seed wrote it, not improved.
import { Server } from 'socket.io';

const activeUsers = new Map(); // userId → socket

export function initSocket(httpServer, clientOrigin) {
  const io = new Server(httpServer, {
    cors: {
      origin: clientOrigin, // Client origin URL
      credentials: true, // Allow cookies
    },
  });

  // "middleware verifies auth": the handshake must carry userId and username.
  io.use((socket, next) => {
    const { userId, username } = socket.handshake.auth || {};
    if (!userId || !username) {
      return next(new Error('Authentication error'));
    }
    socket.userId = String(userId);
    socket.username = username;
    next();
  });

  io.on('connection', (socket) => {
    // "stores socket mapping", then "userOnline broadcast to all clients"
    activeUsers.set(socket.userId, socket);
    socket.broadcast.emit('userOnline', { userId: socket.userId, username: socket.username });

    socket.on('sendMessage', async (data, callback) => {
      // Create message object
      const messageData = {
        conversationId: data.conversationId,
        senderId: socket.userId,
        senderUsername: socket.username,
        recipientId: data.recipientId,
        content: data.content,
        type: data.type,
        attachment: data.attachment,
        timestamp: new Date(),
      };

      // Send to recipient
      const recipientSocket = activeUsers.get(String(data.recipientId));
      if (recipientSocket) {
        recipientSocket.emit('messageReceived', messageData);
      }

      // Acknowledge to sender
      if (typeof callback === 'function') callback({ success: true });
    });

    socket.on('userTyping', (data) => {
      const recipientSocket = activeUsers.get(String(data.recipientId));
      if (recipientSocket) {
        recipientSocket.emit('userTyping', {
          conversationId: data.conversationId,
          userId: socket.userId,
          username: socket.username,
          isTyping: data.isTyping,
        });
      }
    });

    // The other relays of the seed's event table: to the recipient's socket, never stored.
    const relay = (inbound, outbound) => {
      socket.on(inbound, (data, callback) => {
        const recipientSocket = activeUsers.get(String(data && data.recipientId));
        if (recipientSocket) {
          recipientSocket.emit(outbound, { ...data, userId: socket.userId, username: socket.username });
        }
        if (typeof callback === 'function') callback({ success: true });
      });
    };
    relay('addReaction', 'reactionAdded');
    relay('deleteMessage', 'messageDeleted');
    relay('pinMessage', 'messagePinned');
    relay('initiateCall', 'incomingCall');
    relay('acceptCall', 'callAccepted');
    relay('rejectCall', 'callRejected');
    relay('endCall', 'callEnded');

    socket.on('disconnect', () => {
      if (activeUsers.get(socket.userId) === socket) {
        activeUsers.delete(socket.userId);
      }
      socket.broadcast.emit('userOffline', { userId: socket.userId });
    });
  });

  return io;
}
